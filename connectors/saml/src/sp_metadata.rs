//! The SP's own metadata, for the IdP administrator (or pysaml2's `metadata` config).

use crate::signing::escape;

pub(crate) struct SpMetadata<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    pub slo_url: &'a str,
    pub sign_requests: bool,
    pub cert_b64: Option<String>,
}

impl SpMetadata<'_> {
    /// Element order follows the schema (KeyDescriptor, SingleLogoutService, NameIDFormat,
    /// AssertionConsumerService), which strict IdPs validate.
    pub(crate) fn xml(&self) -> String {
        let key = self
            .cert_b64
            .as_deref()
            .map(|c| {
                format!(
                    "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo \
                     xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X509Data>\
                     <ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
                     </md:KeyDescriptor>"
                )
            })
            .unwrap_or_default();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" \
             entityID=\"{entity}\"><md:SPSSODescriptor AuthnRequestsSigned=\"{signed}\" \
             WantAssertionsSigned=\"true\" \
             protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">{key}\
             <md:SingleLogoutService \
             Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{slo}\"/>\
             <md:AssertionConsumerService \
             Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{acs}\" \
             index=\"0\" isDefault=\"true\"/></md:SPSSODescriptor></md:EntityDescriptor>\n",
            entity = escape(self.entity_id),
            signed = self.sign_requests,
            slo = escape(self.slo_url),
            acs = escape(self.acs_url),
        )
    }
}

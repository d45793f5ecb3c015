//! What libxmlsec and libxml2 report, as tracing events instead of raw lines on stderr: their
//! defaults print `func=xmlSecOpenSSLEvpSignatureVerify:…` and parser errors straight to fd 2,
//! which breaks `log_format = "json"` (every line one JSON object).
//!
//! Both libraries take a non-variadic error callback, so they are captured where they are raised,
//! with their fields. The symbols are already linked through samael (which links libxmlsec1 and
//! libxml2), so they are declared here rather than through a new -sys crate. Redirecting fd 2
//! through a pipe would catch them too, but it would also take every other writer's stderr, and
//! a stalled reader thread would block the whole process on a full pipe: more fragile than two
//! registered callbacks.
//!
//! libxmlsec's callback is process-wide. libxml2's is per thread (its globals are thread-local),
//! so [`capture`] sets the default for threads that have not used libxml2 yet and the current
//! thread's own; it is called before every use of samael's xmlsec functions.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::Once;

type XmlSecErrorsCallback = unsafe extern "C" fn(
    file: *const c_char,
    line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
);

/// The leading fields of libxml2's `xmlError` (xmlerror.h), all this module reads; the callback
/// only ever receives a pointer to the full struct.
#[repr(C)]
struct XmlErrorHead {
    domain: c_int,
    code: c_int,
    message: *const c_char,
    level: c_int,
    file: *const c_char,
    line: c_int,
}

type XmlStructuredErrorFunc =
    unsafe extern "C" fn(user_data: *mut c_void, error: *const XmlErrorHead);

unsafe extern "C" {
    fn xmlSecErrorsSetCallback(callback: Option<XmlSecErrorsCallback>);
    fn xmlSetStructuredErrorFunc(ctx: *mut c_void, handler: Option<XmlStructuredErrorFunc>);
    fn xmlThrDefSetStructuredErrorFunc(ctx: *mut c_void, handler: Option<XmlStructuredErrorFunc>);
}

static PROCESS_WIDE: Once = Once::new();

/// Routes both libraries' errors to tracing, for the process and for the calling thread.
pub(crate) fn capture() {
    PROCESS_WIDE.call_once(|| {
        // SAFETY: both only store a function pointer in a global; the callbacks below are
        // `extern "C"`, never unwind, and live for the whole program.
        unsafe {
            xmlSecErrorsSetCallback(Some(on_xmlsec_error));
            xmlThrDefSetStructuredErrorFunc(std::ptr::null_mut(), Some(on_libxml_error));
        }
    });
    // SAFETY: as above; stores the pointer in this thread's libxml2 globals.
    unsafe { xmlSetStructuredErrorFunc(std::ptr::null_mut(), Some(on_libxml_error)) };
}

/// The text of a C string the library passed, or "" for NULL.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string valid for this call.
unsafe fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the caller's contract.
    let raw = unsafe { CStr::from_ptr(ptr) };
    raw.to_string_lossy().trim_end().to_owned()
}

/// Debug level: each refusal is already logged by the broker with the connector's own reason;
/// these are the library's details of it (several per failure).
unsafe extern "C" fn on_xmlsec_error(
    _file: *const c_char,
    _line: c_int,
    func: *const c_char,
    error_object: *const c_char,
    error_subject: *const c_char,
    reason: c_int,
    msg: *const c_char,
) {
    // SAFETY: libxmlsec passes NULL or NUL-terminated strings valid during the call.
    let (func, object, subject, message) = unsafe {
        (
            text(func),
            text(error_object),
            text(error_subject),
            text(msg),
        )
    };
    tracing::debug!(
        target: "gatehouse_connector_saml::xmlsec",
        func, object, subject, reason, message, "xmlsec reported an error"
    );
}

unsafe extern "C" fn on_libxml_error(_user_data: *mut c_void, error: *const XmlErrorHead) {
    if error.is_null() {
        return;
    }
    // SAFETY: libxml2 passes a valid xmlError for the duration of the call.
    let (domain, code, level, line, message) = unsafe {
        let e = &*error;
        (e.domain, e.code, e.level, e.line, text(e.message))
    };
    tracing::debug!(
        target: "gatehouse_connector_saml::libxml2",
        domain, code, level, line, message, "libxml2 reported an error"
    );
}

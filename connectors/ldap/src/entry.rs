//! Search result entries, read without trusting the server: ldap3's own `SearchEntry::construct`
//! panics on a malformed entry, this returns `None`.

use std::collections::HashMap;

use ldap3::ResultEntry;
use ldap3::asn1::StructureTag;

/// One directory entry: its DN and its attributes (names lowercased, values as bytes so that
/// binary attributes such as objectGUID survive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub dn: String,
    attrs: HashMap<String, Vec<Vec<u8>>>,
}

impl Entry {
    pub fn parse(result: ResultEntry) -> Option<Entry> {
        Self::from_tag(result.0)
    }

    fn from_tag(tag: StructureTag) -> Option<Entry> {
        let mut parts = tag.match_id(4)?.expect_constructed()?.into_iter();
        let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
        let mut attrs: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for attribute in parts.next()?.expect_constructed()? {
            let mut pair = attribute.expect_constructed()?.into_iter();
            let name = String::from_utf8(pair.next()?.expect_primitive()?).ok()?;
            let values = pair
                .next()?
                .expect_constructed()?
                .into_iter()
                .map(StructureTag::expect_primitive)
                .collect::<Option<Vec<_>>>()?;
            attrs
                .entry(name.to_ascii_lowercase())
                .or_default()
                .extend(values);
        }
        Some(Entry { dn, attrs })
    }

    #[cfg(test)]
    pub fn new(dn: &str, attrs: &[(&str, &[&str])]) -> Entry {
        Entry {
            dn: dn.into(),
            attrs: attrs
                .iter()
                .map(|(k, vs)| {
                    (
                        k.to_ascii_lowercase(),
                        vs.iter().map(|v| v.as_bytes().to_vec()).collect(),
                    )
                })
                .collect(),
        }
    }

    /// The attribute's UTF-8 values (attribute names compare case-insensitively, as in LDAP).
    pub fn values(&self, attr: &str) -> impl Iterator<Item = &str> {
        self.attrs
            .get(&attr.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .filter_map(|v| std::str::from_utf8(v).ok())
    }

    pub fn first(&self, attr: &str) -> Option<&str> {
        self.values(attr).find(|v| !v.is_empty())
    }

    pub fn first_bytes(&self, attr: &str) -> Option<&[u8]> {
        self.attrs
            .get(&attr.to_ascii_lowercase())?
            .first()
            .map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use ldap3::asn1::{PL, TagClass};

    use super::*;

    fn prim(id: u64, bytes: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::P(bytes.to_vec()),
        }
    }

    fn cons(id: u64, inner: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::C(inner),
        }
    }

    #[test]
    fn reads_text_and_binary_values() {
        let tag = cons(
            4,
            vec![
                prim(4, b"uid=alice,dc=example,dc=org"),
                cons(
                    16,
                    vec![
                        cons(16, vec![prim(4, b"mail"), cons(17, vec![prim(4, b"a@x")])]),
                        cons(
                            16,
                            vec![prim(4, b"objectGUID"), cons(17, vec![prim(4, &[0xff, 0])])],
                        ),
                    ],
                ),
            ],
        );
        let e = Entry::from_tag(tag).unwrap();
        assert_eq!(e.dn, "uid=alice,dc=example,dc=org");
        assert_eq!(e.first("MAIL"), Some("a@x"));
        assert_eq!(e.first("objectguid"), None);
        assert_eq!(e.first_bytes("objectGUID"), Some(&[0xff, 0][..]));
        assert_eq!(e.values("cn").count(), 0);
    }

    #[test]
    fn malformed_entries_are_none_not_a_panic() {
        assert_eq!(Entry::from_tag(prim(4, b"x")), None);
        assert_eq!(Entry::from_tag(cons(5, vec![])), None);
        assert_eq!(Entry::from_tag(cons(4, vec![prim(4, b"dn")])), None);
        let bad_values = cons(
            4,
            vec![
                prim(4, b"dn"),
                cons(16, vec![cons(16, vec![prim(4, b"a"), prim(4, b"b")])]),
            ],
        );
        assert_eq!(Entry::from_tag(bad_values), None);
    }
}

//! A flat reader for the one XML shape WeCom callbacks use: a root `<xml>`
//! whose children are leaf fields, a few of which hold a list of `<Item>`s.
//! Both the encrypted envelope and the decrypted events are read with it, so
//! CDATA, entities and malformed input are handled in one place.

use quick_xml::events::Event;
use quick_xml::Reader;

/// The input was not well-formed XML of the expected shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// One child of the root element.
#[derive(Debug, Default)]
pub(crate) struct Field {
    pub(crate) name: String,
    /// Text and CDATA directly inside the field, concatenated.
    pub(crate) text: String,
    /// Text of each grandchild element (`<MemChangeList><Item>..</Item>`).
    pub(crate) items: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Fields {
    entries: Vec<Field>,
}

impl Fields {
    /// The first field with this name; WeCom never repeats a field, and
    /// taking the first keeps a forged duplicate from overriding the real one.
    pub(crate) fn get(&self, name: &str) -> Option<&Field> {
        self.entries.iter().find(|f| f.name == name)
    }

    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(|f| f.text.as_str())
    }

    /// Every field, in document order.
    pub(crate) fn entries(&self) -> &[Field] {
        &self.entries
    }
}

/// Parses `<xml><A>..</A><B><![CDATA[..]]></B>..</xml>`.
///
/// Elements deeper than the `<Item>` level are checked for well-formedness
/// but their content is ignored: no callback koi handles nests that deep.
pub(crate) fn parse(input: &str) -> Result<Fields, Malformed> {
    let mut reader = Reader::from_str(input);
    let config = reader.config_mut();
    // Pretty-printed payloads put newlines and tabs between fields; CDATA is
    // never trimmed, so values keep their exact bytes.
    config.trim_text(true);
    config.expand_empty_elements = true;
    config.check_end_names = true;

    let mut fields = Fields::default();
    let mut depth = 0usize;
    let mut root_closed = false;
    let mut field: Option<Field> = None;
    let mut item: Option<String> = None;

    loop {
        match reader.read_event().map_err(|_| Malformed)? {
            Event::Start(start) => {
                if root_closed {
                    return Err(Malformed);
                }
                depth += 1;
                let name = std::str::from_utf8(start.name().as_ref()).map_err(|_| Malformed)?.to_owned();
                match depth {
                    1 if name != "xml" => return Err(Malformed),
                    2 => field = Some(Field { name, ..Field::default() }),
                    3 => item = Some(String::new()),
                    _ => {}
                }
            }
            Event::End(_) => {
                match depth {
                    0 => return Err(Malformed),
                    1 => root_closed = true,
                    2 => fields.entries.extend(field.take()),
                    3 => {
                        if let (Some(f), Some(i)) = (field.as_mut(), item.take()) {
                            f.items.push(i);
                        }
                    }
                    _ => {}
                }
                depth -= 1;
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(|_| Malformed)?;
                push_text(depth, &text, &mut field, &mut item)?;
            }
            Event::CData(cdata) => {
                let text = cdata.decode().map_err(|_| Malformed)?;
                push_text(depth, &text, &mut field, &mut item)?;
            }
            Event::Eof => {
                return if root_closed { Ok(fields) } else { Err(Malformed) };
            }
            // Declarations, comments and processing instructions carry no data.
            Event::Empty(_) | Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            // A DOCTYPE could declare entities; WeCom never sends one.
            Event::DocType(_) => return Err(Malformed),
        }
    }
}

fn push_text(depth: usize, text: &str, field: &mut Option<Field>, item: &mut Option<String>) -> Result<(), Malformed> {
    match depth {
        0 if !text.trim().is_empty() => Err(Malformed),
        2 => {
            if let Some(f) = field.as_mut() {
                f.text.push_str(text);
            }
            Ok(())
        }
        3 => {
            if let Some(i) = item.as_mut() {
                i.push_str(text);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_cdata_text_and_items() {
        let doc = "<?xml version=\"1.0\"?>\n<xml>\n\t<A><![CDATA[ a&b ]]></A>\n\t<B>12</B>\n\t<C>x &amp; y</C>\n\t<L>\n\t\t<Item>Jack</Item>\n\t\t<Item><![CDATA[Rose]]></Item>\n\t</L>\n\t<E/>\n</xml>\n";
        let f = parse(doc).expect("well-formed");
        assert_eq!(f.text("A"), Some(" a&b "));
        assert_eq!(f.text("B"), Some("12"));
        assert_eq!(f.text("C"), Some("x & y"));
        assert_eq!(f.get("L").map(|l| l.items.clone()), Some(vec!["Jack".into(), "Rose".into()]));
        assert_eq!(f.text("E"), Some(""));
        assert_eq!(f.text("Z"), None);
    }

    #[test]
    fn first_of_duplicate_fields_wins() {
        let f = parse("<xml><A>1</A><A>2</A></xml>").expect("well-formed");
        assert_eq!(f.text("A"), Some("1"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "   ",
            "<xml>",
            "<xml><A></B></xml>",
            "<xml></xml><xml></xml>",
            "<root><A>1</A></root>",
            "junk<xml></xml>",
            "<xml></xml>junk",
            "<xml><A>&bogus;</A></xml>",
            "<xml><A><![CDATA[x</A></xml>",
            "</xml>",
            "<!DOCTYPE x [<!ENTITY e \"boom\">]><xml><A>&e;</A></xml>",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_xml_like_soup(parts in proptest::collection::vec(
            prop_oneof![
                Just("<xml>"), Just("</xml>"), Just("<A>"), Just("</A>"), Just("<Item>"),
                Just("</Item>"), Just("<![CDATA["), Just("]]>"), Just("&amp;"), Just("&"),
                Just("<"), Just(">"), Just("/>"), Just("<B/>"), Just("x"), Just("企业"),
                Just("<?xml version=\"1.0\"?>"), Just("<!--"), Just("-->"), Just(" "),
            ],
            0..40,
        )) {
            let _ = parse(&parts.concat());
        }
    }
}

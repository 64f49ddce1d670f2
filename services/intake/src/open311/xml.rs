//! The XML form of the answers, written by quick-xml's serde serializer (escaping, empty
//! elements for absent values: `<account_id/>`) from the same types as the JSON form. GeoReport
//! v2's XML wraps lists in a plural element (`<services><service>…`), so a list is its items,
//! each written under the singular name, inside the plural one.

use serde::Serialize;

use super::{
    errors::ErrorItem,
    model::{Attribute, AttributeValue, ServiceDefinition},
};

/// The XML declaration every answer starts with.
const DECLARATION: &str = r#"<?xml version="1.0" encoding="utf-8"?>"#;

/// Why an answer could not be written as XML (a bug, never the client's input).
pub type XmlError = quick_xml::SeError;

/// `<root><item>…</item><item>…</item></root>`.
pub fn list<T: Serialize>(root: &str, item: &str, items: &[T]) -> Result<String, XmlError> {
    let mut out = format!("{DECLARATION}<{root}>");
    for i in items {
        out.push_str(&quick_xml::se::to_string_with_root(item, i)?);
    }
    out.push_str(&format!("</{root}>"));
    Ok(out)
}

/// `<errors><error><code>…</code><description>…</description></error></errors>`.
pub fn errors(items: &[ErrorItem]) -> Result<String, XmlError> {
    list("errors", "error", items)
}

#[derive(Serialize)]
struct XmlValues<'a> {
    value: &'a [AttributeValue],
}

#[derive(Serialize)]
struct XmlAttribute<'a> {
    variable: bool,
    code: &'a str,
    datatype: &'a str,
    required: bool,
    datatype_description: &'a str,
    order: u32,
    description: &'a str,
    values: XmlValues<'a>,
}

#[derive(Serialize)]
struct XmlAttributes<'a> {
    attribute: Vec<XmlAttribute<'a>>,
}

#[derive(Serialize)]
struct XmlDefinition<'a> {
    service_code: &'a str,
    attributes: XmlAttributes<'a>,
}

/// `<service_definition><service_code>…</service_code><attributes><attribute>…`.
pub fn definition(d: &ServiceDefinition) -> Result<String, XmlError> {
    let attribute = d
        .attributes
        .iter()
        .map(|a: &Attribute| XmlAttribute {
            variable: a.variable,
            code: &a.code,
            datatype: a.datatype,
            required: a.required,
            datatype_description: &a.datatype_description,
            order: a.order,
            description: &a.description,
            values: XmlValues { value: &a.values },
        })
        .collect();
    let body = XmlDefinition { service_code: &d.service_code, attributes: XmlAttributes { attribute } };
    Ok(format!("{DECLARATION}{}", quick_xml::se::to_string_with_root("service_definition", &body)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open311::{catalog::ServiceCatalog, model};

    #[test]
    fn lists_and_errors_in_the_standard_shape() {
        let items = [
            ErrorItem { code: 400, description: "lat: must be <90 & >-90".into() },
            ErrorItem { code: 400, description: "x".into() },
        ];
        let xml = errors(&items).unwrap();
        assert_eq!(
            xml,
            format!(
                "{DECLARATION}<errors><error><code>400</code><description>lat: must be &lt;90 &amp; &gt;-90</description></error>\
                 <error><code>400</code><description>x</description></error></errors>"
            )
        );
        assert_eq!(list::<ErrorItem>("errors", "error", &[]).unwrap(), format!("{DECLARATION}<errors></errors>"));
        let answer = model::PostAnswer {
            service_request_id: "411602-20261122-000001".into(),
            service_notice: None,
            account_id: None,
            token: "t".into(),
        };
        let xml = list("service_requests", "request", &[answer]).unwrap();
        assert!(
            xml.contains(
                "<request><service_request_id>411602-20261122-000001</service_request_id><service_notice/><account_id/>"
            ),
            "{xml}"
        );
    }

    #[test]
    fn a_definition_wraps_its_attributes() {
        let catalog = ServiceCatalog::from_toml(crate::open311::catalog::SHIPPED, &[]).unwrap();
        let d = model::definition(catalog.get("01.02.003").unwrap());
        let xml = definition(&d).unwrap();
        assert!(xml.starts_with(&format!("{DECLARATION}<service_definition><service_code>01.02.003</service_code><attributes><attribute><variable>true</variable><code>occurred_at</code>")), "{xml}");
        assert!(xml.ends_with("</attribute></attributes></service_definition>"), "{xml}");
    }
}

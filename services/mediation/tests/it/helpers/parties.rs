//! Parties and requests the tests open cases with: real-looking personal data (valid ID
//! numbers), so the tests can look for it where it must not be.

use civicgrid_proto::v1::{CaseSource, DisputeType, Money, OpenCaseRequest, PartyInput, PartyRole, RiskLevel};

use super::rid;

/// An ID number with the check digit of GB 11643 after 17 digits.
pub fn id_number(first17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = first17.bytes().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", CHECK[(sum % 11) as usize] as char)
}

/// 张三丰, the applicant, with phone, ID number and address.
pub fn applicant() -> PartyInput {
    PartyInput {
        role: PartyRole::Applicant as i32,
        name: "张三丰".into(),
        phone: "13812345678".into(),
        id_number: id_number("41160219900101123"),
        address: "川汇区七一路 12 号".into(),
    }
}

/// 李四海, the respondent.
pub fn respondent() -> PartyInput {
    PartyInput {
        role: PartyRole::Respondent as i32,
        name: "李四海".into(),
        phone: "13998765432".into(),
        id_number: id_number("41160219851212567"),
        address: "川汇区七一路 14 号".into(),
    }
}

/// The personal data of [`applicant`] and [`respondent`] that must never leave in clear.
pub fn secrets() -> Vec<String> {
    let (a, r) = (applicant(), respondent());
    vec![a.name, a.phone, a.id_number, a.address, r.name, r.phone, r.id_number, r.address]
}

/// Yuan as CNY money.
pub fn yuan(units: i64) -> Money {
    Money { currency_code: "CNY".into(), units, nanos: 0 }
}

/// An application of a neighbour dispute in `region_code` between the two parties.
pub fn application(region_code: &str) -> OpenCaseRequest {
    OpenCaseRequest {
        request_id: rid(),
        source: CaseSource::Application as i32,
        dispute_type: DisputeType::Neighbour as i32,
        facts: "被申请人家装修噪音持续影响申请人休息，双方多次争执。".into(),
        amount_involved: Some(yuan(2000)),
        parties: vec![applicant(), respondent()],
        region_code: region_code.into(),
        organisation_id: String::new(),
        risk: RiskLevel::Low as i32,
        external_reference: String::new(),
    }
}

//! The agreement document (人民调解协议书), rendered in Chinese from a case: the contents the
//! People's Mediation Law (art. 29) names, and the lines for signatures and the seal.

use std::fmt::Write;

use chrono::{DateTime, FixedOffset, Utc};

/// A party in full, for the document only.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentParty {
    /// 申请人, 被申请人 or 第三人.
    pub role_label: &'static str,
    /// Full name.
    pub name: String,
    /// ID number, when known.
    pub id_number: String,
    /// Address, when known.
    pub address: String,
    /// Phone, when known.
    pub phone: String,
}

/// What the document says.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The organisation's name, e.g. "川汇区陈州街道人民调解委员会".
    pub organisation: String,
    /// The case number.
    pub case_number: String,
    /// The parties.
    pub parties: Vec<DocumentParty>,
    /// The dispute's facts.
    pub facts: String,
    /// Each party's responsibilities.
    pub responsibilities: String,
    /// The terms.
    pub terms: String,
    /// How and by when it is performed.
    pub performance: String,
    /// The amount in yuan, as text ("3,500.50 元"), when there is one.
    pub amount: Option<String>,
    /// The last day of performance.
    pub perform_by: Option<DateTime<Utc>>,
    /// The mediator's name.
    pub mediator: String,
    /// When it took effect.
    pub effective_at: Option<DateTime<Utc>>,
}

fn date(at: DateTime<Utc>, offset: FixedOffset) -> String {
    at.with_timezone(&offset).format("%Y年%m月%d日").to_string()
}

/// An amount of nano-yuan as "3,500.50 元".
pub fn yuan(nanos: i128) -> String {
    let fen = nanos / 10_000_000;
    let (whole, cents) = (fen / 100, (fen % 100).abs());
    let digits = whole.abs().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}.{cents:02} 元", if nanos < 0 { "-" } else { "" })
}

/// The document as plain text, dates in the platform's time zone `offset`.
pub fn render(d: &Document, offset: FixedOffset) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "人民调解协议书");
    let _ = writeln!(out);
    let _ = writeln!(out, "编号：{}", d.case_number);
    let _ = writeln!(out, "调解组织：{}", d.organisation);
    let _ = writeln!(out);
    for p in &d.parties {
        let mut line = format!("{}：{}", p.role_label, p.name);
        if !p.id_number.is_empty() {
            let _ = write!(line, "，身份证号码：{}", p.id_number);
        }
        if !p.address.is_empty() {
            let _ = write!(line, "，住址：{}", p.address);
        }
        if !p.phone.is_empty() {
            let _ = write!(line, "，联系电话：{}", p.phone);
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "一、纠纷的主要事实、争议事项：");
    let _ = writeln!(out, "{}", d.facts);
    let _ = writeln!(out);
    let _ = writeln!(out, "二、各方当事人的责任：");
    let _ = writeln!(out, "{}", d.responsibilities);
    let _ = writeln!(out);
    let _ = writeln!(out, "三、经调解，各方当事人自愿达成如下协议：");
    let _ = writeln!(out, "{}", d.terms);
    if let Some(amount) = &d.amount {
        let _ = writeln!(out, "涉及金额：{amount}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "四、履行协议的方式、期限：");
    let _ = writeln!(out, "{}", d.performance);
    if let Some(by) = d.perform_by {
        let _ = writeln!(out, "履行期限：{}前", date(by, offset));
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "本协议经各方当事人签名（盖章或按指印）、人民调解员签名并加盖人民调解委员会印章之日起生效，\
         具有法律约束力，当事人应当按照约定履行。当事人可以自本协议生效之日起三十日内，\
         共同向人民法院申请司法确认。"
    );
    let _ = writeln!(out);
    for p in &d.parties {
        let _ = writeln!(out, "{}（签名、盖章或按指印）：____________", p.role_label);
    }
    let _ = writeln!(out, "人民调解员（签名）：{}  ____________", d.mediator);
    let _ = writeln!(out, "{}（印章）", d.organisation);
    match d.effective_at {
        Some(at) => {
            let _ = writeln!(out, "生效日期：{}", date(at, offset));
        }
        None => {
            let _ = writeln!(out, "生效日期：____年__月__日");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_document_names_what_the_law_asks_for() {
        let d = Document {
            organisation: "川汇区陈州街道人民调解委员会".into(),
            case_number: "调411602-20261116-000001".into(),
            parties: vec![
                DocumentParty {
                    role_label: "申请人",
                    name: "张三".into(),
                    id_number: "411602199001011234".into(),
                    address: "七一路 12 号".into(),
                    phone: "13812345678".into(),
                },
                DocumentParty {
                    role_label: "被申请人",
                    name: "李四".into(),
                    id_number: String::new(),
                    address: String::new(),
                    phone: String::new(),
                },
            ],
            facts: "李四家装修噪音影响张三休息。".into(),
            responsibilities: "李四负主要责任。".into(),
            terms: "李四每日 12:00 至 14:00、20:00 后停止施工，并向张三赔偿 500 元。".into(),
            performance: "现金一次性支付。".into(),
            amount: Some(yuan(500_000_000_000)),
            perform_by: Some(Utc.with_ymd_and_hms(2026, 11, 30, 15, 0, 0).unwrap()),
            mediator: "王五".into(),
            effective_at: Some(Utc.with_ymd_and_hms(2026, 11, 16, 7, 0, 0).unwrap()),
        };
        let offset = FixedOffset::east_opt(8 * 3600).unwrap();
        let text = render(&d, offset);
        for needle in [
            "人民调解协议书",
            "编号：调411602-20261116-000001",
            "申请人：张三，身份证号码：411602199001011234",
            "被申请人：李四",
            "纠纷的主要事实",
            "各方当事人的责任",
            "李四负主要责任",
            "涉及金额：500.00 元",
            "履行期限：2026年11月30日前",
            "三十日内",
            "人民调解员（签名）：王五",
            "川汇区陈州街道人民调解委员会（印章）",
            "生效日期：2026年11月16日",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
    }

    #[test]
    fn amounts_in_yuan() {
        assert_eq!(yuan(3_500_500_000_000), "3,500.50 元");
        assert_eq!(yuan(0), "0.00 元");
        assert_eq!(yuan(1_234_567_000_000_000), "1,234,567.00 元");
    }
}

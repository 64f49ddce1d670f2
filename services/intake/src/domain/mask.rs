//! Phone numbers: normalising what reporters type, and the masked form the bus carries.

/// The 11-digit mainland mobile number in `input` (spaces, dashes and a +86 / 86 prefix
/// allowed), or `None` when it is not one.
pub fn normalize_phone(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = digits.strip_prefix("+86").or_else(|| digits.strip_prefix("0086")).unwrap_or(&digits);
    let digits = if digits.len() == 13 { digits.strip_prefix("86").unwrap_or(digits) } else { digits };
    let b = digits.as_bytes();
    let ok = b.len() == 11 && b.iter().all(u8::is_ascii_digit) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
    ok.then(|| digits.to_string())
}

/// `13812345678` → `138****5678`. Anything else is fully masked.
pub fn mask_phone(phone: &str) -> String {
    if phone.len() == 11 && phone.is_ascii() {
        format!("{}****{}", &phone[..3], &phone[7..])
    } else if phone.is_empty() {
        String::new()
    } else {
        "****".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_common_spellings() {
        assert_eq!(normalize_phone("13812345678").as_deref(), Some("13812345678"));
        assert_eq!(normalize_phone("+86 138-1234-5678").as_deref(), Some("13812345678"));
        assert_eq!(normalize_phone("8613812345678").as_deref(), Some("13812345678"));
        assert_eq!(normalize_phone("12812345678"), None);
        assert_eq!(normalize_phone("1381234567"), None);
        assert_eq!(normalize_phone("0396-1234567"), None);
    }

    #[test]
    fn masks() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone(""), "");
        assert_eq!(mask_phone("x"), "****");
    }
}

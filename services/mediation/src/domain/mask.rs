//! Masked forms of a party's personal data: what answers and facts carry instead of it.

/// A name with all but its first character masked: `张三丰` → `张**`.
pub fn name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// A mobile number with its middle four digits masked: `13812345678` → `138****5678`;
/// anything that is not 11 digits is masked whole.
pub fn phone(phone: &str) -> String {
    let p = phone.trim();
    if p.is_empty() {
        return String::new();
    }
    if p.len() == 11 && p.bytes().all(|b| b.is_ascii_digit()) {
        return format!("{}****{}", &p[..3], &p[7..]);
    }
    "*".repeat(p.chars().count())
}

/// A resident ID number with all but its first four and last two characters masked:
/// `411602199001011234` → `4116************34`.
pub fn id_number(id: &str) -> String {
    let chars: Vec<char> = id.trim().chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..4].iter().chain(std::iter::repeat_n(&'*', n - 6)).chain(chars[n - 2..].iter()).collect()
}

/// True for an 18-character resident ID number: 17 digits and a final digit or `X`, with the
/// check digit of GB 11643.
pub fn is_id_number(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let sum: u32 = b[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    b[17].to_ascii_uppercase() == CHECK[(sum % 11) as usize]
}

/// True for a mainland mobile number: 11 digits starting with 1.
pub fn is_mobile(phone: &str) -> bool {
    phone.len() == 11 && phone.starts_with('1') && phone.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(name("张三丰"), "张**");
        assert_eq!(name("李"), "李");
        assert_eq!(name(""), "");
        assert_eq!(phone("13812345678"), "138****5678");
        assert_eq!(phone("0394-123"), "********");
        assert_eq!(id_number("411602199001011234"), "4116************34");
        assert_eq!(id_number("12345"), "*****");
    }

    #[test]
    fn id_numbers_carry_their_check_digit() {
        assert!(is_id_number("11010519491231002X"));
        assert!(!is_id_number("110105194912310021"));
        assert!(!is_id_number("1101051949123100"));
        assert!(is_mobile("13812345678"));
        assert!(!is_mobile("23812345678"));
    }
}

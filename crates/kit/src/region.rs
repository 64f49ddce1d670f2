//! Administrative division codes (行政区划代码) and grid codes.
//!
//! Levels and lengths: city and county 6 digits (a city's code ends in `00`), township 9,
//! village 12; a grid code is its village code plus a 3-digit sequence (15 digits). The city of
//! a county is its first four digits followed by `00`.

use civicgrid_proto::v1::RegionPath;

/// The level a region code names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// 6 digits ending in `00` (e.g. 411600).
    City,
    /// 6 digits not ending in `00` (e.g. 411602).
    County,
    /// 9 digits (e.g. 411602001).
    Township,
    /// 12 digits (e.g. 411602001001).
    Village,
}

/// Why a code is not a valid region or grid code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not made of digits only.
    #[error("must contain digits only")]
    NotDigits,
    /// A length that no level has.
    #[error("must have 6 (city or county), 9 (township) or 12 (village) digits")]
    BadRegionLength,
    /// A grid code that is not 15 digits.
    #[error("must have 15 digits: a 12-digit village code and a 3-digit sequence")]
    BadGridLength,
    /// Structurally impossible (e.g. a township `000`).
    #[error("{0}")]
    Structure(&'static str),
}

fn digits(code: &str) -> Result<(), CodeError> {
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeError::NotDigits);
    }
    Ok(())
}

/// The level of a region code, after checking its shape.
pub fn level(code: &str) -> Result<Level, CodeError> {
    digits(code)?;
    if !matches!(code.len(), 6 | 9 | 12) {
        return Err(CodeError::BadRegionLength);
    }
    if &code[0..2] == "00" || &code[2..4] == "00" {
        return Err(CodeError::Structure("province and city digits must not be 00"));
    }
    match code.len() {
        6 if code.ends_with("00") => Ok(Level::City),
        6 => Ok(Level::County),
        9 if &code[6..9] == "000" => Err(CodeError::Structure("township digits must not be 000")),
        9 => Ok(Level::Township),
        12 if &code[6..9] == "000" || &code[9..12] == "000" => {
            Err(CodeError::Structure("township and village digits must not be 000"))
        }
        12 => Ok(Level::Village),
        _ => Err(CodeError::BadRegionLength),
    }
}

/// The region path of a region code of county level or below.
pub fn path_of(code: &str) -> Result<RegionPath, CodeError> {
    let lvl = level(code)?;
    if lvl == Level::City {
        return Err(CodeError::Structure("must name a county, township or village, not a city"));
    }
    Ok(RegionPath {
        city: format!("{}00", &code[0..4]),
        county: code[0..6].to_string(),
        township: if code.len() >= 9 { code[0..9].to_string() } else { String::new() },
        village: if code.len() >= 12 { code[0..12].to_string() } else { String::new() },
    })
}

/// The region path of a 15-digit grid code.
pub fn path_of_grid(grid: &str) -> Result<RegionPath, CodeError> {
    digits(grid)?;
    if grid.len() != 15 {
        return Err(CodeError::BadGridLength);
    }
    if &grid[12..15] == "000" {
        return Err(CodeError::Structure("grid sequence must not be 000"));
    }
    path_of(&grid[0..12])
}

/// The subject tokens of a region path: city, county, township, village; `_` for a level that
/// is not known, so subjects always have the same number of tokens.
pub fn subject_tokens(path: &RegionPath) -> String {
    civicgrid_contracts::region_tokens(path)
}

/// True when `path` lies inside the region named by `scope` (any level). An empty scope
/// covers everything.
pub fn contains(scope: &str, path: &RegionPath) -> bool {
    if scope.is_empty() {
        return true;
    }
    match level(scope) {
        Ok(Level::City) => path.city == scope,
        Ok(Level::County) => path.county == scope,
        Ok(Level::Township) => path.township == scope,
        Ok(Level::Village) => path.village == scope,
        Err(_) => false,
    }
}

/// True when the region named by `code` lies inside the region named by `scope` (both any
/// level; an empty scope covers everything). A city is inside only its own city scope.
pub fn within(code: &str, scope: &str) -> bool {
    if scope.is_empty() {
        return true;
    }
    let (Ok(code_level), Ok(scope_level)) = (level(code), level(scope)) else { return false };
    match scope_level {
        Level::City => code[..4] == scope[..4],
        _ if code_level == Level::City => false,
        _ => code.starts_with(scope),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(level("411600"), Ok(Level::City));
        assert_eq!(level("411602"), Ok(Level::County));
        assert_eq!(level("411602001"), Ok(Level::Township));
        assert_eq!(level("411602001001"), Ok(Level::Village));
        assert_eq!(level("41160"), Err(CodeError::BadRegionLength));
        assert_eq!(level("41a602"), Err(CodeError::NotDigits));
        assert!(level("411602000").is_err());
        assert!(level("001602").is_err());
    }

    #[test]
    fn paths_and_subject_tokens() {
        let p = path_of_grid("411602001001003").unwrap();
        assert_eq!(subject_tokens(&p), "411600.411602.411602001.411602001001");
        let p = path_of("411602").unwrap();
        assert_eq!(subject_tokens(&p), "411600.411602._._");
        assert!(path_of("411600").is_err());
        assert!(path_of_grid("411602001001").is_err());
        assert!(path_of_grid("411602001001000").is_err());
    }

    #[test]
    fn code_within_scope() {
        assert!(within("411602001", ""));
        assert!(within("411602001", "411600"));
        assert!(within("411600", "411600"));
        assert!(within("411602001", "411602"));
        assert!(!within("411600", "411602"));
        assert!(!within("411603", "411602"));
        assert!(!within("411602", "411602001"));
        assert!(!within("x", "411602"));
    }

    #[test]
    fn scope_contains() {
        let p = path_of("411602001001").unwrap();
        assert!(contains("", &p));
        assert!(contains("411600", &p));
        assert!(contains("411602", &p));
        assert!(contains("411602001", &p));
        assert!(!contains("411603", &p));
        assert!(!contains("411602002", &p));
    }
}

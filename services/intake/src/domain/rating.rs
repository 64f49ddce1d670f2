//! Validation of a `RateOutcomeRequest` (回访): every field, every problem reported at once, each
//! under the field's proto path.

use civicgrid_kit::grpc::{REQUEST_ID_RULE, is_request_id};
use civicgrid_proto::v1::{RateOutcomeRequest, Rating};

use super::{tracking, validate::Violation};

/// The longest comment, in Unicode characters.
pub const MAX_COMMENT_CHARS: usize = 500;

/// A rating that passed validation, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRating {
    /// The idempotency key.
    pub request_id: String,
    /// The event's tracking number, trimmed.
    pub tracking_number: String,
    /// The rating (never UNSPECIFIED).
    pub rating: Rating,
    /// The reporter's words, trimmed (may be empty).
    pub comment: String,
    /// The proof a citizen's app gives: 4 digits, or empty (staff).
    pub phone_last4: String,
}

/// Validates `req`.
pub fn validate(req: &RateOutcomeRequest) -> Result<NewRating, Vec<Violation>> {
    let mut v: Vec<Violation> = Vec::new();
    let mut bad = |field: &str, why: &str| v.push((field.to_string(), why.to_string()));

    if !is_request_id(&req.request_id) {
        bad("request_id", REQUEST_ID_RULE);
    }
    let tracking_number = req.tracking_number.trim().to_string();
    if !tracking::is_tracking_number(&tracking_number) {
        bad("tracking_number", "must look like 411602-20261122-000123");
    }
    let rating = Rating::try_from(req.rating).unwrap_or(Rating::Unspecified);
    if rating == Rating::Unspecified {
        bad("rating", "must be SATISFIED, BASICALLY_SATISFIED or DISSATISFIED (not UNSPECIFIED)");
    }
    let comment = req.comment.trim().to_string();
    if comment.chars().count() > MAX_COMMENT_CHARS {
        bad("comment", "must be at most 500 characters");
    }
    let phone_last4 = req.phone_last4.trim().to_string();
    let is_last4 = phone_last4.len() == 4 && phone_last4.bytes().all(|b| b.is_ascii_digit());
    if !phone_last4.is_empty() && !is_last4 {
        bad("phone_last4", "must be the last 4 digits of the reporter's phone number");
    }

    if !v.is_empty() {
        return Err(v);
    }
    Ok(NewRating { request_id: req.request_id.clone(), tracking_number, rating, comment, phone_last4 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> RateOutcomeRequest {
        RateOutcomeRequest {
            request_id: "rate-0001".into(),
            tracking_number: " 411602-20261122-000123 ".into(),
            rating: Rating::BasicallySatisfied as i32,
            comment: "  修好了，但拖了三天 ".into(),
            phone_last4: " 5678".into(),
        }
    }

    fn fields(r: Result<NewRating, Vec<Violation>>) -> Vec<String> {
        r.err().unwrap_or_default().into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn a_good_request_is_normalised() {
        let r = validate(&good()).unwrap();
        assert_eq!(r.tracking_number, "411602-20261122-000123");
        assert_eq!(r.rating, Rating::BasicallySatisfied);
        assert_eq!(r.comment, "修好了，但拖了三天");
        assert_eq!(r.phone_last4, "5678");
        let mut no_comment = good();
        no_comment.comment.clear();
        assert_eq!(validate(&no_comment).unwrap().comment, "");
    }

    #[test]
    fn every_bad_field_is_named() {
        let req = RateOutcomeRequest {
            request_id: "short".into(),
            tracking_number: "411602-2026-1".into(),
            rating: 0,
            comment: "差".repeat(501),
            phone_last4: "56a8".into(),
        };
        assert_eq!(fields(validate(&req)), ["request_id", "tracking_number", "rating", "comment", "phone_last4"]);
        assert_eq!(fields(validate(&RateOutcomeRequest::default())), ["request_id", "tracking_number", "rating"]);
    }

    #[test]
    fn limits_count_characters_and_unknown_ratings_are_refused() {
        let mut req = good();
        req.comment = "好".repeat(500);
        assert!(validate(&req).is_ok(), "500 characters (1500 bytes) are allowed");
        req.rating = 9;
        assert_eq!(fields(validate(&req)), ["rating"]);
    }
}

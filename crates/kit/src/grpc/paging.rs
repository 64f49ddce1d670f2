//! The one way every List call pages: `page_size` (0 means [`DEFAULT_PAGE_SIZE`], at most
//! [`MAX_PAGE_SIZE`]) and an opaque `page_token` that continues after the last item of the
//! previous page. Tokens are keyset positions (a UUIDv7 id or a sequence number), so a page
//! never repeats or skips an item that was there when the first page was read.
//!
//! ```
//! use civicgrid_kit::grpc::{Violations, paging::{Page, PageRequest}};
//!
//! let mut v = Violations::new();
//! let request: PageRequest<i64> = PageRequest::parse(&mut v, 2, "");
//! assert!(v.is_empty());
//! // The store is asked for `request.fetch()` rows (one more than the page) after `request.after`.
//! let rows = vec![30_i64, 20, 10];
//! let page = Page::of(rows, &request, |r| *r);
//! assert_eq!(page.items, vec![30, 20]);
//! assert!(!page.next_page_token.is_empty());
//! ```

use base64::Engine;

use super::Violations;

/// `page_size` 0 means this many.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The largest `page_size`.
pub const MAX_PAGE_SIZE: i64 = 500;

/// What every service says of a bad `page_size`.
pub const PAGE_SIZE_RULE: &str = "must be from 0 to 500 (0 means 50)";
/// What every service says of a bad `page_token`.
pub const PAGE_TOKEN_RULE: &str = "is not a page_token this call returned";

/// A position a listing can continue from.
pub trait PageKey: Sized + Clone {
    /// A tag that keeps one kind of key's tokens from being read as another's.
    const KIND: u8;
    /// The key's bytes.
    fn to_bytes(&self) -> Vec<u8>;
    /// The key from its bytes; `None` for anything else.
    fn from_bytes(bytes: &[u8]) -> Option<Self>;
}

impl PageKey for uuid::Uuid {
    const KIND: u8 = b'u';
    fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        uuid::Uuid::from_slice(bytes).ok()
    }
}

impl PageKey for i64 {
    const KIND: u8 = b's';
    fn to_bytes(&self) -> Vec<u8> {
        self.to_be_bytes().to_vec()
    }
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(i64::from_be_bytes(bytes.try_into().ok()?))
    }
}

/// The opaque token of `key`.
pub fn encode_token<K: PageKey>(key: &K) -> String {
    let mut bytes = vec![K::KIND];
    bytes.extend(key.to_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The key of a token from [`encode_token`]; `None` for anything else.
pub fn decode_token<K: PageKey>(token: &str) -> Option<K> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let (kind, rest) = bytes.split_first()?;
    if *kind != K::KIND {
        return None;
    }
    K::from_bytes(rest)
}

/// A checked `page_size` and `page_token`.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest<K> {
    /// Items per page.
    pub size: i64,
    /// Continue after this key (`None`: from the start).
    pub after: Option<K>,
}

impl<K: PageKey> PageRequest<K> {
    /// Checks `page_size` and `page_token`, recording violations in `v` (naming the fields).
    pub fn parse(v: &mut Violations, page_size: i32, page_token: &str) -> Self {
        let size = match i64::from(page_size) {
            0 => DEFAULT_PAGE_SIZE,
            n @ 1..=MAX_PAGE_SIZE => n,
            _ => {
                v.add("page_size", PAGE_SIZE_RULE);
                DEFAULT_PAGE_SIZE
            }
        };
        let after = if page_token.is_empty() {
            None
        } else {
            let key = decode_token(page_token);
            if key.is_none() {
                v.add("page_token", PAGE_TOKEN_RULE);
            }
            key
        };
        PageRequest { size, after }
    }

    /// How many rows to ask the store for: one more than a page, to know whether another
    /// page follows.
    pub fn fetch(&self) -> i64 {
        self.size + 1
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The token of the next page; empty when this is the last.
    pub next_page_token: String,
}

impl<T> Page<T> {
    /// The page of `rows` (fetched with [`PageRequest::fetch`], in listing order), with the
    /// token made from the last item's `key`.
    pub fn of<K: PageKey>(mut rows: Vec<T>, request: &PageRequest<K>, key: impl Fn(&T) -> K) -> Self {
        let more = rows.len() as i64 > request.size;
        rows.truncate(request.size.max(0) as usize);
        let next_page_token = match rows.last() {
            Some(last) if more => encode_token(&key(last)),
            _ => String::new(),
        };
        Page { items: rows, next_page_token }
    }

    /// The items converted, the token kept.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_page_token: self.next_page_token }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_other_kinds_and_garbage() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(decode_token::<uuid::Uuid>(&encode_token(&id)), Some(id));
        assert_eq!(decode_token::<i64>(&encode_token(&42_i64)), Some(42));
        assert_eq!(decode_token::<i64>(&encode_token(&id)), None);
        assert_eq!(decode_token::<uuid::Uuid>("%%"), None);
        assert_eq!(decode_token::<uuid::Uuid>(""), None);
    }

    #[test]
    fn sizes_and_tokens_are_checked_naming_the_field() {
        let mut v = Violations::new();
        let r: PageRequest<i64> = PageRequest::parse(&mut v, 0, "");
        assert_eq!((r.size, r.after, v.is_empty()), (DEFAULT_PAGE_SIZE, None, true));
        let mut v = Violations::new();
        let _: PageRequest<i64> = PageRequest::parse(&mut v, 501, "nope");
        let status = v.into_result().unwrap_err();
        let fields: Vec<String> = super::super::field_violations(&status).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["page_size", "page_token"]);
    }

    #[test]
    fn the_last_page_has_no_token() {
        let r = PageRequest::<i64> { size: 3, after: None };
        assert_eq!(Page::of(vec![3_i64, 2, 1], &r, |x| *x).next_page_token, "");
        let p = Page::of(vec![4_i64, 3, 2, 1], &r, |x| *x);
        assert_eq!(p.items, vec![4, 3, 2]);
        assert_eq!(decode_token::<i64>(&p.next_page_token), Some(2));
    }
}

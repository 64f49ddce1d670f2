//! Personal data at rest (reporters' and recipients' names and phone numbers): AES-256-GCM
//! with a configured key, a random 96-bit nonce per value, and the owning row's id as associated
//! data so a ciphertext cannot be moved to another row.
//!
//! Keys rotate: the setting holds a comma-separated list, the first key seals new values and
//! every key opens values it sealed. A value starts with a marker byte and its key's id (the
//! first four bytes of SHA-256 of the key), so the right key is found without trying each; values
//! sealed before key ids existed (`nonce || ciphertext`) are opened by trying the keys in turn.
//! To rotate: put the new key first and keep the old ones after it, for as long as rows sealed
//! under them are kept.

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::Engine;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The first byte of a value sealed with a key id.
const MARKER: u8 = 0xC5;

/// Why a key or ciphertext is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// A key is not base64 of 32 bytes.
    #[error(
        "each key must be the base64 encoding of 32 random bytes (e.g. `openssl rand -base64 32`); \
         several keys are separated by commas, the newest first"
    )]
    BadKey,
    /// Decryption failed (wrong key or tampered data).
    #[error("sealed data could not be decrypted")]
    Decrypt,
}

/// Encrypts with the current key and decrypts with any key of the ring.
#[derive(Clone)]
pub struct Cipher {
    /// (key id, key), the current key first.
    keys: Vec<([u8; 4], Aes256Gcm)>,
}

impl Cipher {
    /// A cipher from one base64 key, or several separated by commas (the first seals).
    pub fn from_base64(keys: &str) -> Result<Self, SealError> {
        let mut ring = Vec::new();
        for key in keys.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let bytes = base64::engine::general_purpose::STANDARD.decode(key).map_err(|_| SealError::BadKey)?;
            if bytes.len() != 32 {
                return Err(SealError::BadKey);
            }
            let id: [u8; 4] = Sha256::digest(&bytes)[..4].try_into().map_err(|_| SealError::BadKey)?;
            ring.push((id, Aes256Gcm::new_from_slice(&bytes).map_err(|_| SealError::BadKey)?));
        }
        if ring.is_empty() {
            return Err(SealError::BadKey);
        }
        Ok(Cipher { keys: ring })
    }

    /// A fresh random key, base64-encoded (for development set-ups and tests).
    pub fn generate_key() -> String {
        let key: [u8; 32] = rand::random();
        base64::engine::general_purpose::STANDARD.encode(key)
    }

    /// The id of the key new values are sealed with, in hex (for logs and operators).
    pub fn key_id(&self) -> String {
        self.keys.first().map(|(id, _)| hex::encode(id)).unwrap_or_default()
    }

    /// `marker || key id || nonce || ciphertext` of `plain` under the current key, bound to
    /// `owner`.
    pub fn encrypt(&self, owner: Uuid, plain: &str) -> Vec<u8> {
        let Some((id, key)) = self.keys.first() else { return Vec::new() };
        let nonce: [u8; 12] = rand::random();
        let mut out = Vec::with_capacity(17 + plain.len() + 16);
        out.push(MARKER);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce);
        // Encryption with a valid key and nonce cannot fail for inputs of this size.
        let sealed = key
            .encrypt(&Nonce::from(nonce), Payload { msg: plain.as_bytes(), aad: owner.as_bytes() })
            .unwrap_or_default();
        out.extend(sealed);
        out
    }

    /// The plaintext of a value sealed by [`encrypt`](Self::encrypt) for `owner`, under any key
    /// of the ring (or sealed before key ids, by any key).
    pub fn decrypt(&self, owner: Uuid, sealed: &[u8]) -> Result<String, SealError> {
        if sealed.len() >= 17 && sealed[0] == MARKER {
            let id = &sealed[1..5];
            if let Some((_, key)) = self.keys.iter().find(|(k, _)| k.as_slice() == id)
                && let Ok(plain) = open(key, owner, &sealed[5..])
            {
                return Ok(plain);
            }
        }
        // Sealed before key ids (or a legacy value whose nonce began with the marker).
        self.keys.iter().find_map(|(_, key)| open(key, owner, sealed).ok()).ok_or(SealError::Decrypt)
    }

    /// Whether `sealed` was sealed with another key than the current one (a rotation job would
    /// seal it again).
    pub fn is_stale(&self, sealed: &[u8]) -> bool {
        let current = self.keys.first().map(|(id, _)| id.as_slice());
        !(sealed.len() >= 17 && sealed[0] == MARKER && current == Some(&sealed[1..5]))
    }
}

/// `nonce || ciphertext` opened with `key` for `owner`.
fn open(key: &Aes256Gcm, owner: Uuid, sealed: &[u8]) -> Result<String, SealError> {
    if sealed.len() < 12 {
        return Err(SealError::Decrypt);
    }
    let (nonce, data) = sealed.split_at(12);
    let nonce: [u8; 12] = nonce.try_into().map_err(|_| SealError::Decrypt)?;
    let plain = key
        .decrypt(&Nonce::from(nonce), Payload { msg: data, aad: owner.as_bytes() })
        .map_err(|_| SealError::Decrypt)?;
    String::from_utf8(plain).map_err(|_| SealError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_bound_to_owner() {
        let c = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        let owner = Uuid::now_v7();
        let sealed = c.encrypt(owner, "13812345678");
        assert!(!sealed.windows(11).any(|w| w == b"13812345678"));
        assert_eq!(c.decrypt(owner, &sealed).unwrap(), "13812345678");
        assert!(c.decrypt(Uuid::now_v7(), &sealed).is_err());
        let other = Cipher::from_base64(&Cipher::generate_key()).unwrap();
        assert!(other.decrypt(owner, &sealed).is_err());
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(Cipher::from_base64("short").is_err());
        assert!(Cipher::from_base64("!!!").is_err());
        assert!(Cipher::from_base64(" , ").is_err());
        assert!(Cipher::from_base64(&format!("{},short", Cipher::generate_key())).is_err());
    }

    #[test]
    fn a_rotated_ring_seals_with_the_new_key_and_opens_the_old_ones() {
        let (old, new) = (Cipher::generate_key(), Cipher::generate_key());
        let owner = Uuid::now_v7();
        let before = Cipher::from_base64(&old).unwrap();
        let sealed_old = before.encrypt(owner, "张三");
        let ring = Cipher::from_base64(&format!("{new}, {old}")).unwrap();
        assert_eq!(ring.decrypt(owner, &sealed_old).unwrap(), "张三");
        assert!(ring.is_stale(&sealed_old));
        let sealed_new = ring.encrypt(owner, "李四");
        assert!(!ring.is_stale(&sealed_new));
        assert_eq!(hex::encode(&sealed_new[1..5]), ring.key_id());
        assert_ne!(ring.key_id(), before.key_id());
        assert_eq!(ring.decrypt(owner, &sealed_new).unwrap(), "李四");
        // The old key alone cannot open what the new one sealed.
        assert!(before.decrypt(owner, &sealed_new).is_err());
    }

    #[test]
    fn values_sealed_before_key_ids_still_open() {
        let key = Cipher::generate_key();
        let ring = Cipher::from_base64(&format!("{},{key}", Cipher::generate_key())).unwrap();
        let owner = Uuid::now_v7();
        // The layout before key ids: nonce || ciphertext.
        let bytes = base64::engine::general_purpose::STANDARD.decode(&key).unwrap();
        let legacy_key = Aes256Gcm::new_from_slice(&bytes).unwrap();
        let nonce = [7u8; 12];
        let mut legacy = nonce.to_vec();
        legacy.extend(
            legacy_key.encrypt(&Nonce::from(nonce), Payload { msg: b"13800000000", aad: owner.as_bytes() }).unwrap(),
        );
        assert_eq!(ring.decrypt(owner, &legacy).unwrap(), "13800000000");
        assert!(ring.is_stale(&legacy));
    }
}

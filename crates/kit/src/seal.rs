//! Personal data at rest (reporters' and recipients' names and phone numbers): AES-256-GCM
//! with a configured key, a random 96-bit nonce per value (stored in front of the ciphertext),
//! and the owning row's id as associated data so a ciphertext cannot be moved to another row.

use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::Engine;
use uuid::Uuid;

/// Why a key or ciphertext is unusable.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key is not base64 of 32 bytes.
    #[error("the key must be the base64 encoding of 32 random bytes (e.g. `openssl rand -base64 32`)")]
    BadKey,
    /// Decryption failed (wrong key or tampered data).
    #[error("sealed data could not be decrypted")]
    Decrypt,
}

/// Encrypts and decrypts personal fields.
#[derive(Clone)]
pub struct Cipher(Aes256Gcm);

impl Cipher {
    /// A cipher from the base64 key.
    pub fn from_base64(key: &str) -> Result<Self, SealError> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(key.trim()).map_err(|_| SealError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey);
        }
        Aes256Gcm::new_from_slice(&bytes).map(Cipher).map_err(|_| SealError::BadKey)
    }

    /// A fresh random key, base64-encoded (for development set-ups and tests).
    pub fn generate_key() -> String {
        let key: [u8; 32] = rand::random();
        base64::engine::general_purpose::STANDARD.encode(key)
    }

    /// `nonce || ciphertext` of `plain`, bound to `owner`.
    pub fn encrypt(&self, owner: Uuid, plain: &str) -> Vec<u8> {
        let nonce: [u8; 12] = rand::random();
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail for inputs of this size.
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), Payload { msg: plain.as_bytes(), aad: owner.as_bytes() })
            .unwrap_or_default();
        out.extend(sealed);
        out
    }

    /// The plaintext of a value sealed by [`encrypt`](Self::encrypt) for `owner`.
    pub fn decrypt(&self, owner: Uuid, sealed: &[u8]) -> Result<String, SealError> {
        if sealed.len() < 12 {
            return Err(SealError::Decrypt);
        }
        let (nonce, data) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| SealError::Decrypt)?;
        let plain = self
            .0
            .decrypt(&Nonce::from(nonce), Payload { msg: data, aad: owner.as_bytes() })
            .map_err(|_| SealError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| SealError::Decrypt)
    }
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
    }
}

//! Corp secrets at rest. The WeCom app secret, callback token and
//! EncodingAESKey are stored sealed with AES-256-GCM under a master key
//! that lives outside the database (`KOI_MASTER_KEY` or a key file): a copy
//! of the database alone does not give its reader the corps' WeCom access.
//! All three are sealed: the app secret calls WeCom's API as the brand, and
//! the token with the AES key lets anyone forge callbacks koi would accept
//! (the AES key alone decrypts captured callbacks, which carry customers).
//!
//! A sealed value is `koi1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`:
//! `koi1` names the scheme (a later one can sit beside it), the key id (a
//! digest of the key, not the key) tells which key sealed it so a wrong key
//! fails with a clear message, and the nonce is random per value. The
//! associated data binds a value to its corp's WeCom id and its column, so
//! a sealed value copied into another row or column does not open.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

const SCHEME: &str = "koi1";
const NONCE_LEN: usize = 12;

/// The master key: 32 random bytes.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Why a master key or a sealed value could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the master key must be 32 bytes in base64 (44 characters, e.g. from `openssl rand -base64 32`)")]
    BadKey,
    #[error(
        "{what} is sealed with master key {sealed_with}, but the master key given is {given}: \
         use the key that was backed up with this database (KOI_MASTER_KEY or the master key file)"
    )]
    WrongKey { what: String, sealed_with: String, given: String },
    #[error("{what} is sealed with master key {sealed_with}, but no master key was given")]
    NoKey { what: String, sealed_with: String },
    #[error("{what} does not open with master key {key}: the stored value is damaged or was moved from another row")]
    Damaged { what: String, key: String },
}

impl MasterKey {
    pub fn generate() -> MasterKey {
        MasterKey::from_bytes(Aes256Gcm::generate_key(&mut OsRng).into())
    }

    fn from_bytes(key: [u8; 32]) -> MasterKey {
        let id = hex::encode(&Sha256::digest([b"koi master key id:".as_slice(), &key].concat())[..4]);
        MasterKey { key, id }
    }

    /// Reads the key as `KOI_MASTER_KEY` or a key file holds it.
    pub fn from_base64(text: &str) -> Result<MasterKey, SecretError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| SecretError::BadKey)?;
        Ok(MasterKey::from_bytes(bytes.try_into().map_err(|_| SecretError::BadKey)?))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key)
    }

    /// Names the key in messages and in sealed values without revealing it.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.key))
    }

    /// Seals `plain`; `context` (corp and column) must be given again to open it.
    pub fn seal(&self, context: &str, plain: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()
            .encrypt(&nonce, Payload { msg: plain.as_bytes(), aad: context.as_bytes() })
            .expect("AES-GCM encrypts any message shorter than 64 GiB");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        format!("{SCHEME}:{}:{}", self.id, STANDARD.encode(blob))
    }
}

/// Whether a stored value is sealed (rather than plain text from before).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SCHEME) && stored[SCHEME.len()..].starts_with(':')
}

/// Opens a stored value. Plain text from before sealing comes back as it is
/// (the start-up step seals it); `what` names the value in errors.
pub fn open(key: Option<&MasterKey>, context: &str, stored: &str, what: &str) -> Result<String, SecretError> {
    if !is_sealed(stored) {
        return Ok(stored.to_string());
    }
    let mut parts = stored.splitn(3, ':').skip(1);
    let (sealed_with, blob) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let Some(key) = key else {
        return Err(SecretError::NoKey { what: what.into(), sealed_with: sealed_with.into() });
    };
    if sealed_with != key.id {
        return Err(SecretError::WrongKey {
            what: what.into(),
            sealed_with: sealed_with.into(),
            given: key.id.clone(),
        });
    }
    let damaged = || SecretError::Damaged { what: what.into(), key: key.id.clone() };
    let blob = STANDARD.decode(blob).map_err(|_| damaged())?;
    if blob.len() < NONCE_LEN {
        return Err(damaged());
    }
    let (nonce, sealed) = blob.split_at(NONCE_LEN);
    let plain = key
        .cipher()
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: context.as_bytes() })
        .map_err(|_| damaged())?;
    String::from_utf8(plain).map_err(|_| damaged())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let k = MasterKey::generate();
        let a = k.seal("wwA/app_secret", "s3cret");
        let b = k.seal("wwA/app_secret", "s3cret");
        assert!(is_sealed(&a) && !a.contains("s3cret"));
        assert_ne!(a, b, "a fresh nonce per value");
        assert_eq!(open(Some(&k), "wwA/app_secret", &a, "x").unwrap(), "s3cret");
        assert!(matches!(open(Some(&k), "wwB/app_secret", &a, "x"), Err(SecretError::Damaged { .. })));
        let other = MasterKey::generate();
        assert!(matches!(open(Some(&other), "wwA/app_secret", &a, "x"), Err(SecretError::WrongKey { .. })));
        assert!(matches!(open(None, "wwA/app_secret", &a, "x"), Err(SecretError::NoKey { .. })));
        assert_eq!(open(None, "c", "plain text", "x").unwrap(), "plain text", "legacy rows read as they are");
        let tampered = format!("{}A", &a[..a.len() - 1]);
        assert!(open(Some(&k), "wwA/app_secret", &tampered, "x").is_err());
    }

    #[test]
    fn keys_round_trip_through_base64() {
        let k = MasterKey::generate();
        let again = MasterKey::from_base64(&format!("{}\n", k.to_base64())).unwrap();
        assert_eq!(again.id(), k.id());
        assert_eq!(MasterKey::from_base64("c2hvcnQ=").unwrap_err(), SecretError::BadKey);
        assert_eq!(MasterKey::from_base64("not base64!").unwrap_err(), SecretError::BadKey);
    }
}

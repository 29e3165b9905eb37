//! Personal survey links. A link's token is HMAC-SHA256 of the
//! invitation's response id under a secret the database generates once
//! (the setting `link_key`, never shown): the store keeps only the token's
//! SHA-256, so a read of the invitations table opens no survey, yet a
//! reminder can carry the same link as the first e-mail.

use hmac::{Hmac, Mac};
use northstar_store::Store;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// The setting holding the link secret.
pub const LINK_KEY: &str = "link_key";

/// Hex characters of a token: 128 bits, unguessable.
pub const TOKEN_CHARS: usize = 32;

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The database's link secret (generated on first use).
pub async fn link_key(store: &dyn Store) -> Result<String, ApiError> {
    Ok(store
        .backend()
        .setting_or_insert(
            LINK_KEY,
            &northstar_store::accounts::new_token(),
            jiff::Timestamp::now().as_second(),
        )
        .await?)
}

/// The token of an invitation's link.
pub fn token(key: &str, response_id: &str) -> String {
    // An HMAC takes keys of any length; this cannot fail.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(b"invitation:");
    mac.update(response_id.as_bytes());
    let digest = mac.finalize().into_bytes();
    hex(&digest[..TOKEN_CHARS / 2])
}

/// What the store looks a token up by.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whether a path segment can be a token at all (checked before any
/// lookup, so junk costs no query).
pub fn token_shaped(token: &str) -> bool {
    token.len() == TOKEN_CHARS && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fresh random id: response ids of invitations, submission ids of
/// anonymous forms, public slugs.
pub fn random_id(chars: usize) -> String {
    let mut out = northstar_store::accounts::new_token();
    out.truncate(chars);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_keyed_stable_and_hashed() {
        let a = token("key one", "inv-1");
        assert_eq!(a, token("key one", "inv-1"));
        assert_ne!(a, token("key two", "inv-1"));
        assert_ne!(a, token("key one", "inv-2"));
        assert!(token_shaped(&a));
        assert_eq!(token_hash(&a).len(), 64);
        assert!(!token_shaped("../../etc"));
    }
}

//! Accounts and sessions: the stored records, password hashing (argon2id)
//! and session tokens. Hashing is slow on purpose: call
//! [`hash_password`] and [`verify_password`] off the async runtime
//! (`tokio::task::spawn_blocking`).

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use northstar_core::account::Role;
use sha2::{Digest, Sha256};

use crate::{StoreError, StoreResult};

/// An account as stored (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// For department_lead and ambassador: the department they see.
    pub department: Option<String>,
    pub disabled: bool,
    pub created_unix: i64,
}

/// An account to create: checked by `northstar_core::account`, password
/// already hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: String,
    pub role: Role,
    pub department: Option<String>,
    pub password_hash: String,
}

/// What may change about an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChange {
    /// A new role and its department (checked together).
    pub role: Option<(Role, Option<String>)>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

/// A signed-in session, with its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    /// The per-session token forms carry against cross-site requests.
    pub csrf_token: String,
    pub created_unix: i64,
    pub last_seen_unix: i64,
}

/// An API token as stored (its secret only as a hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub department: Option<String>,
    pub created_unix: i64,
    pub last_used_unix: Option<i64>,
    pub revoked_unix: Option<i64>,
}

/// The prefix of every API token, so that a leaked one is recognisable
/// (secret scanners, logs).
pub const API_TOKEN_PREFIX: &str = "nst_";

/// How precisely a token's last use is kept, in seconds: finer would make
/// every API read a database write.
pub const TOKEN_USE_GRANULARITY: i64 = 60;

/// A new API token's secret: the prefix and 256 random bits.
pub fn new_api_token() -> String {
    format!("{API_TOKEN_PREFIX}{}", new_token())
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub at_unix: i64,
    /// Who: an account's e-mail, `cli` or `system`.
    pub actor: String,
    /// What: `user.add`, `user.set_role`, `sign_in.failed`, `export`, …
    pub action: String,
    /// On what (an account's e-mail, a token's name, …).
    pub target: String,
    pub detail: String,
}

/// Which audit entries to read, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// An action, or a family of them ending in `.` (`user.`).
    pub action: Option<String>,
    /// Exactly this target (an account, a token's name, a customer
    /// reference).
    pub target: Option<String>,
    pub from_unix: Option<i64>,
    pub to_unix: Option<i64>,
    /// At most this many (the store caps it at [`AUDIT_PAGE`]).
    pub limit: u32,
}

/// Most audit entries one read returns.
pub const AUDIT_PAGE: u32 = 10_000;

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> StoreResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("hashing a password failed: {e}")))
}

/// Whether `password` matches a stored hash; a hash that cannot be read
/// matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A new random token (256 bits, hex): for session cookies and CSRF.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// The key sign-in failures of an account are counted under.
pub fn sign_in_account_key(email: &str) -> String {
    format!("account:{email}")
}

/// What the store keeps of a session token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a stored role name.
pub(crate) fn stored_role(name: &str) -> StoreResult<Role> {
    Role::parse(name).ok_or_else(|| StoreError::Corrupt(format!("unknown role {name:?} stored")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), a);
    }
}

//! Who may sign in, and as what (DESIGN.md §2): the roles, and the checks a
//! new account must pass. What each role may do is decided by the server's
//! one permission table; this module only names the roles.

use serde::Serialize;

use crate::field::{self, DIMENSION_LIMIT, FieldError};

/// A role. A department lead or ambassador belongs to one department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    CxLead,
    DepartmentLead,
    Ambassador,
    Finance,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::CxLead,
        Role::DepartmentLead,
        Role::Ambassador,
        Role::Finance,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CxLead => "cx_lead",
            Role::DepartmentLead => "department_lead",
            Role::Ambassador => "ambassador",
            Role::Finance => "finance",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Roles that see one department's data (and organisation-wide
    /// summaries): they need a department.
    pub fn is_department_scoped(self) -> bool {
        matches!(self, Role::DepartmentLead | Role::Ambassador)
    }

    /// Every role name, for messages.
    pub fn names() -> String {
        Role::ALL.map(Role::as_str).join(", ")
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest e-mail address (RFC 5321's path limit).
pub const EMAIL_MAX_CHARS: usize = 254;

/// Passwords: at least this long, and at most this long (argon2 takes any
/// length; a bound keeps hashing a request's password cheap).
pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 1_000;

/// An e-mail address as accounts are keyed: trimmed and lower-cased.
pub fn normalize_email(raw: &str) -> Result<String, FieldError> {
    let email = raw.trim().to_lowercase();
    let bad = |problem: &str| {
        FieldError::new(
            "email",
            problem.to_string(),
            "give an address like lead@example.com",
        )
    };
    if email.is_empty() {
        return Err(bad("is empty"));
    }
    if email.chars().count() > EMAIL_MAX_CHARS {
        return Err(bad(&format!("is longer than {EMAIL_MAX_CHARS} characters")));
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(bad("has no @"));
    };
    if local.is_empty()
        || domain.is_empty()
        || !domain.contains('.')
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad("is not an e-mail address"));
    }
    Ok(email)
}

/// Checks a new password's length (its strength beyond that is the
/// organisation's policy).
pub fn check_password(password: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    if n < PASSWORD_MIN_CHARS {
        return Err(FieldError::new(
            "password",
            format!("has {n} characters; at least {PASSWORD_MIN_CHARS} are needed"),
            "choose a longer password, e.g. four random words",
        ));
    }
    if n > PASSWORD_MAX_CHARS {
        return Err(FieldError::new(
            "password",
            format!("has {n} characters; at most {PASSWORD_MAX_CHARS} are accepted"),
            "choose a shorter password",
        ));
    }
    Ok(())
}

/// A role with its department, checked: department-scoped roles need one,
/// the others must not have one.
pub fn scoped_role(role: Role, department: Option<&str>) -> Result<Option<String>, FieldError> {
    let department = department.map(str::trim).filter(|d| !d.is_empty());
    match (role.is_department_scoped(), department) {
        (true, None) => Err(FieldError::new(
            "department",
            format!("is required for the role {role}"),
            "name the department this person belongs to, e.g. --department logistics",
        )),
        (false, Some(_)) => Err(FieldError::new(
            "department",
            format!("is only for department_lead and ambassador, not {role}"),
            "leave the department out: this role sees the whole organisation",
        )),
        (true, Some(d)) => {
            field::within("department", d, DIMENSION_LIMIT)?;
            Ok(Some(d.to_string()))
        }
        (false, None) => Ok(None),
    }
}

/// How sign-in attempts are throttled: failures counted over a window, per
/// account and per address (an address tries many accounts; an account is
/// tried from many addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInThrottle {
    pub window_seconds: i64,
    pub per_account: u64,
    pub per_address: u64,
}

/// A handful of tries per account, more per address (an office shares
/// one), over a quarter of an hour: our numbers, after the OWASP
/// Authentication Cheat Sheet's advice to throttle both.
pub const SIGN_IN_THROTTLE: SignInThrottle = SignInThrottle {
    window_seconds: 15 * 60,
    per_account: 5,
    per_address: 50,
};

impl SignInThrottle {
    /// Whether another attempt may be checked, given the failures in the
    /// window. The answer, and the message a refused client sees, are the
    /// same whether the account exists or not (no account enumeration).
    pub fn allows(&self, account_failures: u64, address_failures: u64) -> bool {
        account_failures < self.per_account && address_failures < self.per_address
    }

    /// What a refused client reads.
    pub fn message(&self) -> String {
        format!(
            "too many failed sign-ins; wait {} minutes and try again, or ask an admin to reset your password",
            self.window_seconds / 60
        )
    }
}

/// How long a signed-in session lasts: it ends after `idle_seconds`
/// without a request, and after `absolute_seconds` whatever happens (OWASP
/// Session Management Cheat Sheet: both timeouts, short idle for
/// applications handling personal data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_seconds: i64,
    pub absolute_seconds: i64,
    /// A session's last use is written at most this often (a read per
    /// request, a write per minute).
    pub touch_every_seconds: i64,
}

/// Half an hour idle, twelve hours at most: a working day, then sign in again.
pub const SESSION_POLICY: SessionPolicy = SessionPolicy {
    idle_seconds: 30 * 60,
    absolute_seconds: 12 * 60 * 60,
    touch_every_seconds: 60,
};

impl SessionPolicy {
    /// Whether a session created at `created` and last used at `last_seen`
    /// is still valid at `now`.
    pub fn is_live(&self, created: i64, last_seen: i64, now: i64) -> bool {
        now - last_seen < self.idle_seconds && now - created < self.absolute_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_idle_or_old() {
        let p = SESSION_POLICY;
        assert!(p.is_live(0, 0, p.idle_seconds - 1));
        assert!(!p.is_live(0, 0, p.idle_seconds));
        let created = 0;
        let last = p.absolute_seconds - 10;
        assert!(!p.is_live(created, last, p.absolute_seconds));
        assert!(p.is_live(created, last, p.absolute_seconds - 1));
    }

    #[test]
    fn roles_round_trip_by_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Lead@Example.COM ").unwrap(),
            "lead@example.com"
        );
        for bad in [
            "",
            "no-at",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn scoped_roles_need_a_department_and_others_refuse_one() {
        assert!(scoped_role(Role::DepartmentLead, None).is_err());
        assert_eq!(
            scoped_role(Role::Ambassador, Some(" logistics ")).unwrap(),
            Some("logistics".into())
        );
        assert!(scoped_role(Role::Admin, Some("logistics")).is_err());
        assert_eq!(scoped_role(Role::Finance, Some("  ")).unwrap(), None);
    }

    #[test]
    fn sign_in_is_throttled_per_account_and_per_address() {
        let t = SIGN_IN_THROTTLE;
        assert!(t.allows(4, 49));
        assert!(!t.allows(5, 0), "the account");
        assert!(!t.allows(0, 50), "the address");
        assert!(t.message().contains("wait 15 minutes"));
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(check_password("short").is_err());
        assert!(check_password("correct horse battery").is_ok());
        assert!(check_password(&"x".repeat(1_001)).is_err());
    }
}

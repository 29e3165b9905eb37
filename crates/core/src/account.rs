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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn passwords_have_bounds() {
        assert!(check_password("short").is_err());
        assert!(check_password("correct horse battery").is_ok());
        assert!(check_password(&"x".repeat(1_001)).is_err());
    }
}

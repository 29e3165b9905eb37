//! Which role may do what: the one table the server consults for every
//! page, API route and export (DESIGN.md §2). A department-scoped role
//! (department_lead, ambassador) is further restricted to its department's
//! responses and breakdowns — a separate, mandatory restriction the store
//! intersects with whatever a request asks ([`Scope`]).

use crate::Dimension;
use crate::account::Role;

/// Something a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Metrics, trends, breakdowns and who answered: figures, no rows.
    ViewSummaries,
    /// Single responses with their comments (verbatims).
    ViewResponses,
    /// Customer ids and personal data inside comments, unmasked.
    ViewPersonalData,
    /// CSV and JSON exports of what the role may view.
    Export,
    /// Imports and `POST /api/v1/responses`.
    WriteData,
    /// Accounts, roles and API tokens.
    ManageAccess,
    /// The audit log.
    ViewAudit,
    /// Erasure of a customer's data, retention settings.
    Erase,
    /// Create and change departments, their goals, and the North Star.
    ManageDepartments,
    /// Record wins and enter external KPI values (a department-scoped role:
    /// for its own department only).
    RecordWins,
    /// Build business cases and run pilots (plan, assign, start).
    ManageCasesAndPilots,
    /// Accept or challenge a business case's assumptions, approve or
    /// return a version (finance; never the version's author).
    ReviewCases,
    /// Design, open and close surveys; invite, send and remind.
    ManageSurveys,
}

impl Capability {
    pub const ALL: [Capability; 13] = [
        Capability::ViewSummaries,
        Capability::ViewResponses,
        Capability::ViewPersonalData,
        Capability::Export,
        Capability::WriteData,
        Capability::ManageAccess,
        Capability::ViewAudit,
        Capability::Erase,
        Capability::ManageDepartments,
        Capability::RecordWins,
        Capability::ManageCasesAndPilots,
        Capability::ReviewCases,
        Capability::ManageSurveys,
    ];
}

/// The table: for each role, what it may do. Read by [`allows`]; nothing
/// else in the code decides permissions.
const PERMISSIONS: [(Role, &[Capability]); 6] = {
    use Capability::*;
    [
        (
            Role::Admin,
            &[
                ViewSummaries,
                ViewResponses,
                ViewPersonalData,
                Export,
                WriteData,
                ManageAccess,
                ViewAudit,
                Erase,
                ManageDepartments,
                RecordWins,
                ManageCasesAndPilots,
                ManageSurveys,
            ],
        ),
        (
            Role::CxLead,
            &[
                ViewSummaries,
                ViewResponses,
                ViewPersonalData,
                Export,
                WriteData,
                ManageDepartments,
                RecordWins,
                ManageCasesAndPilots,
                ManageSurveys,
            ],
        ),
        // Within their department (see Scope).
        (
            Role::DepartmentLead,
            &[ViewSummaries, ViewResponses, Export, RecordWins],
        ),
        (
            Role::Ambassador,
            &[ViewSummaries, ViewResponses, RecordWins],
        ),
        // Read-only everywhere, to scrutinise the figures.
        (
            Role::Finance,
            &[ViewSummaries, ViewResponses, Export, ReviewCases],
        ),
        // Summaries only: no verbatims, no customer ids.
        (Role::Viewer, &[ViewSummaries]),
    ]
};

/// Whether `role` may do `capability`.
pub fn allows(role: Role, capability: Capability) -> bool {
    PERMISSIONS
        .iter()
        .find(|(r, _)| *r == role)
        .is_some_and(|(_, caps)| caps.contains(&capability))
}

/// Which responses a role's rows and breakdowns come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole organisation.
    Organisation,
    /// One department's responses; organisation-wide summaries only.
    Department(String),
}

impl Scope {
    /// The scope of an account or token: its department for
    /// department-scoped roles, else the organisation. A department role
    /// without a department sees nothing rather than everything.
    pub fn of(role: Role, department: Option<&str>) -> Scope {
        if role.is_department_scoped() {
            Scope::Department(department.unwrap_or_default().to_string())
        } else {
            Scope::Organisation
        }
    }
}

impl Scope {
    /// Intersects a request's filter with the scope. Several values of one
    /// dimension mean *any of* them, so a department scope is not appended
    /// as one more value (that would widen access): it replaces the
    /// request's department values by their intersection with the scope.
    /// `None` when nothing can match (another department asked for, or a
    /// department role without a department).
    pub fn restrict(&self, filter: &[(Dimension, String)]) -> Option<Vec<(Dimension, String)>> {
        let Scope::Department(own) = self else {
            return Some(filter.to_vec());
        };
        if own.is_empty() {
            return None;
        }
        let asked: Vec<&String> = filter
            .iter()
            .filter(|(d, _)| *d == Dimension::Department)
            .map(|(_, v)| v)
            .collect();
        if !asked.is_empty() && !asked.contains(&own) {
            return None;
        }
        let mut restricted: Vec<(Dimension, String)> = filter
            .iter()
            .filter(|(d, _)| *d != Dimension::Department)
            .cloned()
            .collect();
        restricted.push((Dimension::Department, own.clone()));
        Some(restricted)
    }

    /// The department a scoped role is limited to.
    pub fn department(&self) -> Option<&str> {
        match self {
            Scope::Organisation => None,
            Scope::Department(d) => Some(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_narrows_and_never_widens() {
        let d = |v: &str| (Dimension::Department, v.to_string());
        let s = |v: &str| (Dimension::Segment, v.to_string());
        let support = Scope::Department("support".into());
        // Nothing asked: the department is added.
        assert_eq!(
            support.restrict(&[s("smb")]),
            Some(vec![s("smb"), d("support")])
        );
        // Its own department among others asked: only its own remains.
        assert_eq!(
            support.restrict(&[d("billing"), d("support")]),
            Some(vec![d("support")])
        );
        // Another department only: nothing.
        assert_eq!(support.restrict(&[d("billing")]), None);
        // The empty department (responses without one) is not a wildcard.
        assert_eq!(Scope::Department(String::new()).restrict(&[]), None);
        assert_eq!(support.restrict(&[d("")]), None);
        // The organisation scope leaves the filter alone.
        assert_eq!(
            Scope::Organisation.restrict(&[d("billing")]),
            Some(vec![d("billing")])
        );
    }

    #[test]
    fn every_role_is_in_the_table_once() {
        for role in Role::ALL {
            assert_eq!(
                PERMISSIONS.iter().filter(|(r, _)| *r == role).count(),
                1,
                "{role}"
            );
        }
    }

    #[test]
    fn the_roles_of_the_design() {
        use Capability::*;
        // Finance reads everywhere and changes nothing.
        assert!(allows(Role::Finance, ViewResponses) && allows(Role::Finance, Export));
        for c in [WriteData, ManageAccess, Erase] {
            assert!(!allows(Role::Finance, c), "{c:?}");
        }
        // Viewers: summaries, no verbatims, no customer ids.
        assert!(allows(Role::Viewer, ViewSummaries));
        for c in [ViewResponses, ViewPersonalData, Export] {
            assert!(!allows(Role::Viewer, c), "{c:?}");
        }
        // Only admins manage access, read the audit log and erase.
        for role in Role::ALL {
            for c in [ManageAccess, ViewAudit, Erase] {
                assert_eq!(allows(role, c), role == Role::Admin, "{role} {c:?}");
            }
        }
        // Personal data unmasked: admins and CX leads only.
        for role in Role::ALL {
            assert_eq!(
                allows(role, ViewPersonalData),
                matches!(role, Role::Admin | Role::CxLead),
                "{role}"
            );
        }
    }

    #[test]
    fn department_roles_are_scoped_even_without_a_department() {
        assert_eq!(
            Scope::of(Role::Ambassador, Some("support")),
            Scope::Department("support".into())
        );
        assert_eq!(
            Scope::of(Role::DepartmentLead, None),
            Scope::Department(String::new())
        );
        assert_eq!(
            Scope::of(Role::CxLead, Some("support")),
            Scope::Organisation
        );
    }
}

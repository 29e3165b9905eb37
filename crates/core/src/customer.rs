//! A customer record, from a department's or the CRM's export.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::field::{self, FieldError};
use crate::response::{check_header, clean_header};

/// A validated customer, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewCustomer {
    pub customer_id: String,
    pub segment: Option<String>,
    pub region: Option<String>,
    pub annual_value: Option<f64>,
    pub churned: Option<bool>,
    pub attributes: BTreeMap<String, String>,
}

/// The layout of a customers file.
#[derive(Debug, Clone)]
pub struct CustomerColumns {
    names: Vec<String>,
}

impl CustomerColumns {
    pub fn from_header<S: AsRef<str>>(header: &[S]) -> Result<Self, Vec<FieldError>> {
        let names: Vec<&str> = header.iter().map(|h| clean_header(h.as_ref())).collect();
        check_header(&names, &["customer_id"])?;
        Ok(Self {
            names: names.into_iter().map(str::to_string).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn parse_row<S: AsRef<str>>(&self, cells: &[S]) -> Result<NewCustomer, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut c = NewCustomer {
            customer_id: String::new(),
            segment: None,
            region: None,
            annual_value: None,
            churned: None,
            attributes: BTreeMap::new(),
        };
        for (name, cell) in self.names.iter().zip(cells) {
            let raw = cell.as_ref();
            let text = field::non_empty(raw).map(str::to_string);
            let result = match name.as_str() {
                "customer_id" => field::required("customer_id", raw, "C-1042")
                    .map(|v| c.customer_id = v.to_string()),
                "segment" => {
                    c.segment = text;
                    Ok(())
                }
                "region" => {
                    c.region = text;
                    Ok(())
                }
                "annual_value" => {
                    field::number("annual_value", raw, Some(0.0)).map(|v| c.annual_value = v)
                }
                "churned" => field::yes_no("churned", raw).map(|v| c.churned = v),
                other => {
                    if let Some(v) = text {
                        c.attributes.insert(other.to_string(), v);
                    }
                    Ok(())
                }
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_validate_value_and_churn() {
        let cols = CustomerColumns::from_header(&[
            "customer_id",
            "segment",
            "annual_value",
            "churned",
            "tier",
        ])
        .unwrap();
        let c = cols
            .parse_row(&["C1", "smb", "1200.50", "no", "gold"])
            .unwrap();
        assert_eq!(c.annual_value, Some(1200.5));
        assert_eq!(c.churned, Some(false));
        assert_eq!(c.attributes["tier"], "gold");
        let e = cols
            .parse_row(&["", "smb", "-3", "perhaps", ""])
            .unwrap_err();
        assert_eq!(e.len(), 3);
    }
}

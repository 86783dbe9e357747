use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::{CompiledSchema, FieldError, NOTICE_SCHEMA};

/// The canonical notice schema and every agreed profile, compiled once when
/// the agreements load.
pub struct NoticeSchemas {
    canonical: CompiledSchema,
    profiles: HashMap<String, Arc<CompiledSchema>>,
}

impl NoticeSchemas {
    /// `profiles` maps a profile's name (its path under the schemas directory)
    /// to its schema document.
    pub fn compile<'a>(
        profiles: impl IntoIterator<Item = (&'a String, &'a Value)>,
    ) -> Result<Self, (String, String)> {
        let profiles = profiles
            .into_iter()
            .map(|(name, schema)| {
                CompiledSchema::compile(schema)
                    .map(|compiled| (name.clone(), Arc::new(compiled)))
                    .map_err(|message| (name.clone(), message))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            canonical: CompiledSchema::embedded(NOTICE_SCHEMA),
            profiles,
        })
    }

    /// Every way `notice` fails the canonical schema and, if the agreement
    /// names one, its profile. Empty when the notice may be sent.
    pub fn check(&self, notice: &Value, profile: Option<&str>) -> Vec<FieldError> {
        let mut errors = self.canonical.errors(notice);
        if let Some(name) = profile {
            match self.profiles.get(name) {
                Some(schema) => errors.extend(schema.errors(notice)),
                None => errors.push(FieldError::new(
                    "",
                    format!("agreed notice schema {name:?} is not loaded"),
                )),
            }
        }
        errors
    }
}

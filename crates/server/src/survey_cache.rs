//! The public survey endpoints read a survey and its current definition on
//! every answer; at thousands of answers a second those two queries would
//! cost more than the answer's write. They are kept here for a short time
//! (`FRESH_FOR`), and this process drops an entry at once when it changes
//! the survey; another process's change (a second server on the same
//! PostgreSQL) is seen within `FRESH_FOR`. Bounded: at most `MAX_ENTRIES`
//! surveys, the oldest dropped first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use northstar_core::survey::SurveyDefinition;
use northstar_store::Store;
use northstar_store::survey_records::Survey;

use crate::api::surveys::definition_of;
use crate::error::ApiError;

/// How long an entry is used without reading the store again.
pub const FRESH_FOR: Duration = Duration::from_secs(2);
/// Most surveys kept.
pub const MAX_ENTRIES: usize = 1_000;

/// A survey with its current definition.
pub type CachedSurvey = Arc<(Survey, SurveyDefinition)>;

#[derive(Default)]
struct Entries {
    by_id: HashMap<i64, (Instant, CachedSurvey)>,
    /// Slugs never change.
    id_of_slug: HashMap<String, i64>,
}

/// Shared by the handlers (cheap to clone).
#[derive(Clone, Default)]
pub struct SurveyCache(Arc<Mutex<Entries>>);

impl SurveyCache {
    fn fresh(&self, id: i64) -> Option<CachedSurvey> {
        let entries = self.0.lock().ok()?;
        entries
            .by_id
            .get(&id)
            .filter(|(at, _)| at.elapsed() < FRESH_FOR)
            .map(|(_, s)| s.clone())
    }

    fn keep(&self, survey: CachedSurvey) {
        let Ok(mut entries) = self.0.lock() else {
            return;
        };
        if entries.by_id.len() >= MAX_ENTRIES
            && let Some(oldest) = entries
                .by_id
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(id, _)| *id)
        {
            entries.by_id.remove(&oldest);
            entries.id_of_slug.retain(|_, id| *id != oldest);
        }
        entries
            .id_of_slug
            .insert(survey.0.public_slug.clone(), survey.0.id);
        entries.by_id.insert(survey.0.id, (Instant::now(), survey));
    }

    /// Forgets a survey (call after changing it).
    pub fn forget(&self, id: i64) {
        if let Ok(mut entries) = self.0.lock() {
            entries.by_id.remove(&id);
        }
    }

    /// The survey and its current definition, from memory when fresh.
    pub async fn get(&self, store: &dyn Store, id: i64) -> Result<Option<CachedSurvey>, ApiError> {
        if let Some(s) = self.fresh(id) {
            return Ok(Some(s));
        }
        let backend = store.backend();
        let Some(survey) = backend.survey(id).await? else {
            return Ok(None);
        };
        let Some(version) = backend.survey_version(id, survey.current_version).await? else {
            return Ok(None);
        };
        let loaded = Arc::new((survey, definition_of(&version.document)?));
        self.keep(loaded.clone());
        Ok(Some(loaded))
    }

    /// The survey of a public slug.
    pub async fn by_slug(
        &self,
        store: &dyn Store,
        slug: &str,
    ) -> Result<Option<CachedSurvey>, ApiError> {
        let known = self
            .0
            .lock()
            .ok()
            .and_then(|e| e.id_of_slug.get(slug).copied());
        let id = match known {
            Some(id) => id,
            None => match store.backend().survey_by_slug(slug).await? {
                Some(s) => s.id,
                None => return Ok(None),
            },
        };
        self.get(store, id).await
    }
}

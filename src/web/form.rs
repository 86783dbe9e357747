//! A posted form (`application/x-www-form-urlencoded`), kept as its
//! name-value pairs so repeated names (checkboxes) keep every value.

use axum::extract::{FromRequest, RawForm, Request};

use super::PageError;

/// A posted form, refused whole (400, naming the field) when any name or
/// value holds U+0000, as the API refuses it in JSON.
pub struct PostedForm(Vec<(String, String)>);

/// How much of a refused field's name the error page repeats.
const MAX_NAME_SHOWN: usize = 80;

impl PostedForm {
    /// The first value of `name`, if posted.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every name-value pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.0.iter().cloned()
    }
}

impl<S: Send + Sync> FromRequest<S> for PostedForm {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PageError> {
        let RawForm(body) = RawForm::from_request(request, state)
            .await
            .map_err(|_| PageError::BadForm)?;
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(&body).into_owned().collect();
        if let Some((name, _)) = pairs
            .iter()
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            let shown: String = name.chars().take(MAX_NAME_SHOWN).collect();
            return Err(PageError::NulInField(shown));
        }
        Ok(PostedForm(pairs))
    }
}

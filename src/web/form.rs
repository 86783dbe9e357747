//! A posted form (`application/x-www-form-urlencoded`), kept as its
//! name-value pairs so repeated names (checkboxes) keep every value.

use axum::extract::{FromRequest, RawForm, Request};

use super::PageError;

pub struct PostedForm(Vec<(String, String)>);

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
        Ok(PostedForm(
            url::form_urlencoded::parse(&body).into_owned().collect(),
        ))
    }
}

//! [`SessionMiddleware`]: the session's bearer token on every request of a
//! [`reqwest_middleware`] client.

use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use super::layer::{authorize, says_token_refused};
use super::Session;

/// reqwest-middleware's middleware for a [`Session`], as [`SessionLayer`](super::SessionLayer)
/// is Tower's: the token on each request as `Authorization: Bearer`, refreshed ahead of
/// expiry; after a `401` for an invalid token, one refresh and the request sent once more, when
/// reqwest can copy its body (`Request::try_clone`: not a stream). No token to give fails the
/// call with the [`SessionError`](super::SessionError) as its source, without sending it.
///
/// ```no_run
/// use reqwest_middleware::ClientBuilder;
/// use stlock::session::{Session, SessionMiddleware};
///
/// # async fn wire(session: Session) -> Result<(), Box<dyn std::error::Error>> {
/// let http = ClientBuilder::new(reqwest::Client::new())
///     .with(SessionMiddleware::new(session))
///     .build();
/// let orders = http.get("https://api.example.com/orders").send().await?;
/// # drop(orders); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SessionMiddleware {
    session: Session,
}

impl SessionMiddleware {
    /// A middleware putting `session`'s token on each request.
    pub fn new(session: Session) -> Self {
        Self { session }
    }
}

#[async_trait::async_trait]
impl Middleware for SessionMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let token = self
            .session
            .access_token()
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        let again = request.try_clone();
        authorize(request.headers_mut(), &token);
        let response = next.clone().run(request, extensions).await?;
        if !says_token_refused(response.status(), response.headers()) {
            return Ok(response);
        }
        let renewed = self
            .session
            .refresh_rejected(&token)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        // Sent again only with another token, and only when it can be.
        match again {
            Some(mut again) if renewed != token => {
                authorize(again.headers_mut(), &renewed);
                next.run(again, extensions).await
            }
            _ => Ok(response),
        }
    }
}

//! [`SessionLayer`]: the session's bearer token on every outbound request of a Tower client (a
//! hyper client, a tonic `Channel`), refreshed ahead of expiry, and once more when a server
//! refuses it.

mod future;

use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, Response};
use http_body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::{AccessToken, Session, SessionError};

pub use future::ResponseFuture;

/// A Tower layer that puts the session's access token on each outbound request, as
/// `Authorization: Bearer` (replacing any there), marked sensitive.
///
/// - **Ahead of expiry**: the token comes from [`Session::access_token`], which refreshes a due
///   token first, once however many requests ask. A token not due costs a load and a clock read.
/// - **A `401` that says the token is invalid** (`WWW-Authenticate: Bearer error="invalid_token"`,
///   as `StlockLayer` answers a token it refuses): the session refreshes now (once, whatever
///   the number of requests that saw that token refused, and at most once in
///   [`FORCED_REFRESH_INTERVAL`](super::FORCED_REFRESH_INTERVAL)), and the request is sent
///   again with the new token, once,
///   when its body is empty (`GET`, `DELETE`, …): only such a request can be rebuilt here, from
///   a copy of its head (method, URI, headers, extensions) and a clone of the service, made
///   before it is sent. A request with a body is not sent again: its `401` is the response, and
///   the next request carries the new token.
/// - **gRPC** (`content-type: application/grpc…`): never sent again (its body is a stream, and
///   its refusal arrives as an `UNAUTHENTICATED` status); refresh-ahead keeps its token valid.
/// - **No token to give** (the session ended, or the issuer unreachable past the token's
///   lifetime): the call fails with [`CallError::Session`], without reaching the server. The
///   same when the refresh after a `401` fails: the request is not sent again.
///
/// On a tonic channel:
///
/// ```no_run
/// use stlock::session::{Session, SessionLayer};
/// use tower::ServiceBuilder;
///
/// # async fn wire(session: Session) -> Result<(), Box<dyn std::error::Error>> {
/// let channel = tonic::transport::Endpoint::from_static("http://[::1]:50051").connect().await?;
/// let channel = ServiceBuilder::new().layer(SessionLayer::new(session)).service(channel);
/// // GreeterClient::new(channel) …
/// # drop(channel); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SessionLayer {
    session: Session,
}

impl SessionLayer {
    /// A layer putting `session`'s token on each request.
    pub fn new(session: Session) -> Self {
        Self { session }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            session: self.session.clone(),
        }
    }
}

/// The service of [`SessionLayer`].
#[derive(Clone, Debug)]
pub struct SessionService<S> {
    inner: S,
    session: Session,
}

impl<S> SessionService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Takes the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Why a call through [`SessionLayer`] failed: no token to give, or the inner service's own
/// error.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// The session has no valid token (see [`SessionError`]); the server was not called (again).
    #[error(transparent)]
    Session(SessionError),
    /// The inner service failed.
    #[error(transparent)]
    Service(E),
    /// The response future was polled after it had completed (a caller's mistake).
    #[error("the response future was polled after it completed")]
    Polled,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ReqBody: Body + Default,
{
    type Response = Response<ResBody>;
    type Error = CallError<S::Error>;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(CallError::Service)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // Take the service that `poll_ready` readied; leave a fresh clone for the next call.
        let ready = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, ready);
        let replay = Replay::of(&request, &ready);
        match self.session.current() {
            Some(token) => {
                authorize(request.headers_mut(), &token);
                ResponseFuture::calling(ready.call(request), token, self.session.clone(), replay)
            }
            None => ResponseFuture::fetching(self.session.clone(), ready, request, replay),
        }
    }
}

/// What sending a request again takes: its head, and a service to send it with. Only for a
/// request with an empty body that is not gRPC.
pub(crate) struct Replay<S> {
    service: S,
    head: Request<()>,
}

impl<S: Clone> Replay<S> {
    fn of<B: Body>(request: &Request<B>, service: &S) -> Option<Box<Self>> {
        let is_grpc = request
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
        if is_grpc || request.body().size_hint().exact() != Some(0) {
            return None;
        }
        let mut head = Request::new(());
        *head.method_mut() = request.method().clone();
        *head.uri_mut() = request.uri().clone();
        *head.version_mut() = request.version();
        *head.headers_mut() = request.headers().clone();
        *head.extensions_mut() = request.extensions().clone();
        Some(Box::new(Self {
            service: service.clone(),
            head,
        }))
    }

    /// The request again, with an empty body.
    fn request<B: Default>(&self) -> Request<B> {
        let mut request = Request::new(B::default());
        *request.method_mut() = self.head.method().clone();
        *request.uri_mut() = self.head.uri().clone();
        *request.version_mut() = self.head.version();
        *request.headers_mut() = self.head.headers().clone();
        *request.extensions_mut() = self.head.extensions().clone();
        request
    }
}

/// Puts `token` in `headers` as the bearer token, replacing any other.
pub(crate) fn authorize(headers: &mut HeaderMap, token: &AccessToken) {
    if let Some(value) = token.bearer() {
        headers.insert(AUTHORIZATION, value);
    }
}

/// Whether a response says the token was refused as invalid (RFC 6750's `invalid_token`).
fn refuses_token<B>(response: &Response<B>) -> bool {
    says_token_refused(response.status(), response.headers())
}

/// Whether a response of this status and headers says the token was refused as invalid: a
/// `401` whose `WWW-Authenticate` challenge has RFC 6750's `error="invalid_token"`.
pub(crate) fn says_token_refused(status: http::StatusCode, headers: &HeaderMap) -> bool {
    status == http::StatusCode::UNAUTHORIZED
        && headers.get_all(WWW_AUTHENTICATE).iter().any(|value| {
            value
                .as_bytes()
                .windows(b"invalid_token".len())
                .any(|window| window == b"invalid_token")
        })
}

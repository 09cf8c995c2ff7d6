//! The `axum_app` example's application: the Python client's FastAPI `main.py`, ported to axum.
//!
//! | route | what |
//! |---|---|
//! | `POST /register` | `{"username", "email", "phone", "password"}` → 201 and the new user |
//! | `GET /` | a page to try the browser flow: sign in, then many calls of `/user` at once |
//! | `POST /login` | `{"username", "password"}` → a token pair, as JSON and as two `HttpOnly` cookies |
//! | `POST /refresh` | `{"refresh_token"}` → a new pair (the old refresh token is spent), JSON and cookies |
//! | `POST /logout` | `{"refresh_token"}`, or no body and the refresh cookie → the session is revoked, the cookies cleared |
//! | `GET /user` | the verified claims of the `Authorization: Bearer` token or of the access cookie (`StlockLayer`), refreshed on the fly when due |
//! | `GET`, `DELETE /orders/{id}` | as `/user`, and the user's grant policies must allow the call (`GrantLayer`) |
//!
//! Unlike the Python original, `/user` reads the token from the `Authorization` header or a
//! cookie, never from the query string (which ends up in access logs), and verifies it before
//! answering. The layer the example builds refreshes tokens in cookie mode: a browser whose
//! access cookie expired gets a new pair in cookies with its next response, once however many of
//! its requests race.
//! Every error is JSON `{"detail": "..."}`: the service's own errors keep their status and
//! detail, bad input is a 4xx, and nothing the client sends can cause a 500 or a panic.
//!
//! The tests include this file (`#[path]`), so they exercise the very router the example serves.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use stlock::refresh::SessionCookies;
use stlock::rejection::{DefaultRejection, RejectionHandler};
use stlock::{Claims, Client, GrantLayer, Registration, StlockLayer, StlockUser, TokenPair, User};

/// Called with each user that `POST /register` created; returns the user to answer with.
pub type OnRegister = Arc<dyn Fn(User) -> User + Send + Sync>;

/// The application, to configure and then turn into a [`Router`].
pub struct App<R = DefaultRejection> {
    auth: StlockLayer<R>,
    grants: GrantLayer<R>,
    on_register: Option<OnRegister>,
}

impl App {
    /// The app, verifying tokens with `auth` and checking grants through the same client.
    pub fn new(auth: StlockLayer) -> Self {
        let grants = GrantLayer::new(auth.client().clone());
        Self::with_layers(auth, grants)
    }
}

impl<R: RejectionHandler> App<R> {
    /// The app, verifying tokens with `auth` and checking grants with `grants`.
    pub fn with_layers(auth: StlockLayer<R>, grants: GrantLayer<R>) -> Self {
        Self {
            auth,
            grants,
            on_register: None,
        }
    }

    /// Runs `hook` on every user that `POST /register` created; what it returns is the answer.
    pub fn on_register(mut self, hook: impl Fn(User) -> User + Send + Sync + 'static) -> Self {
        self.on_register = Some(Arc::new(hook));
        self
    }

    /// The router: public routes, the token-protected `/user`, and the grant-checked orders.
    pub fn router(self) -> Router {
        let state = AppState {
            client: self.auth.client().clone(),
            auth: self.auth.clone(),
            on_register: self.on_register,
        };
        // The grant layer goes inside the token layer: it needs the verified user.
        let orders = Router::new()
            .route("/orders/{id}", get(order).delete(delete_order))
            .route_layer(self.grants);
        let protected = Router::new()
            .route("/user", get(current_user))
            .merge(orders)
            // `route_layer`: only these routes need a token; unknown paths still get a 404.
            .route_layer(self.auth);
        Router::new()
            .route("/", get(page))
            .route("/register", post(register::<R>))
            .route("/login", post(login::<R>))
            .route("/refresh", post(refresh::<R>))
            .route("/logout", post(logout::<R>))
            .merge(protected)
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .with_state(state)
    }
}

#[derive(Clone)]
struct AppState<R> {
    client: Client,
    /// The token layer, for the session cookies it reads and refreshes.
    auth: StlockLayer<R>,
    on_register: Option<OnRegister>,
}

// No `Debug` on the bodies: they hold passwords and tokens.
#[derive(Deserialize)]
struct RegisterBody {
    username: String,
    email: String,
    phone: String,
    password: String,
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn register<R>(
    State(state): State<AppState<R>>,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let registration = Registration::new(body.username, body.email, body.phone, body.password);
    let mut user = state.client.register(&registration).await?;
    if let Some(hook) = &state.on_register {
        user = hook(user);
    }
    Ok((StatusCode::CREATED, Json(user)))
}

/// The pair as JSON, for API clients, and in cookies, for browsers.
async fn login<R: RejectionHandler>(
    State(state): State<AppState<R>>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<(SessionCookies, Json<TokenPair>), ApiError> {
    let pair = state.client.login(&body.username, &body.password).await?;
    Ok((state.auth.session_cookies(&pair)?, Json(pair)))
}

async fn refresh<R: RejectionHandler>(
    State(state): State<AppState<R>>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<(SessionCookies, Json<TokenPair>), ApiError> {
    let pair = state.client.refresh(&body.refresh_token).await?;
    Ok((state.auth.session_cookies(&pair)?, Json(pair)))
}

/// Signs out the refresh token of the body (API clients), else of the refresh cookie (browsers,
/// whose script cannot read an `HttpOnly` cookie), and clears the cookies either way.
async fn logout<R: RejectionHandler>(
    State(state): State<AppState<R>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(SessionCookies, Json<serde_json::Value>), ApiError> {
    let refresh_token = if body.iter().all(u8::is_ascii_whitespace) {
        state
            .auth
            .session_refresh_token(&headers)
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "send {\"refresh_token\": …} or the refresh cookie",
                )
            })?
    } else {
        serde_json::from_slice::<RefreshBody>(&body)
            .map_err(|error| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string()))?
            .refresh_token
    };
    state.client.logout(&refresh_token).await?;
    let cleared = state.auth.cleared_session_cookies();
    Ok((cleared, Json(serde_json::json!({ "logged_out": true }))))
}

/// A page for trying the browser flow: sign in, then call `/user` many times at once; the
/// tokens never leave their `HttpOnly` cookies. The browser test drives it.
async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

/// The Python `/user`: the token's claims, here verified by `StlockLayer` before we get them.
async fn current_user(user: StlockUser) -> Json<Claims> {
    Json(user.into_claims())
}

async fn order(user: StlockUser, Path(id): Path<String>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "id": id, "user_id": user.user_id(), "status": "shipped" }))
}

async fn delete_order(user: StlockUser, Path(id): Path<String>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "id": id, "user_id": user.user_id(), "deleted": true }))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

/// An error answer: its status and `{"detail": ...}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
}

impl ApiError {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "detail": self.detail })),
        )
            .into_response()
    }
}

impl From<stlock::DecodeError> for ApiError {
    /// A pair from the service whose tokens do not verify: the service is not the one
    /// configured.
    fn from(error: stlock::DecodeError) -> Self {
        eprintln!("axum_app: the service issued a token that does not verify: {error}");
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "the STLock service could not be used",
        )
    }
}

impl From<stlock::Error> for ApiError {
    fn from(error: stlock::Error) -> Self {
        match &error {
            // The service said no (a wrong password, a name taken): pass its status and detail
            // on, as the Python app does.
            stlock::Error::Service(service) if service.status().is_client_error() => ApiError::new(
                service.status(),
                service
                    .detail()
                    .unwrap_or("the STLock service refused the request"),
            ),
            // Refused before sending (an empty field, a refresh token that is no JWT).
            stlock::Error::InvalidInput { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
            }
            // The service failed: our clients read a message of our own, the log has the cause.
            stlock::Error::Timeout(_) => {
                eprintln!("axum_app: {error}");
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the STLock service did not answer in time",
                )
            }
            _ => {
                eprintln!("axum_app: {error}");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "the STLock service could not be used",
                )
            }
        }
    }
}

/// `Json<T>`, whose rejections (no JSON content type, bad JSON, a missing field) are JSON too.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    ApiError::new(rejection.status(), rejection.body_text())
}

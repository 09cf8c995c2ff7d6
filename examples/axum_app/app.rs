//! The `axum_app` example's application: the Python client's FastAPI `main.py`, ported to axum,
//! with a browser session in cookies beside it.
//!
//! | route | for | what |
//! |---|---|---|
//! | `GET /` | browsers | a page to try the browser flow: sign in, call `/user` many times at once, place an order, sign out |
//! | `POST /register` | all | `{"username", "email", "phone", "password"}` → 201 and the new user |
//! | `POST /login` | API clients | `{"username", "password"}` → a token pair, as JSON (no cookie) |
//! | `POST /refresh` | API clients | `{"refresh_token"}` → a new pair as JSON (the old refresh token is spent) |
//! | `POST /logout` | API clients | `{"refresh_token"}` → the session is revoked at the service |
//! | `POST /session` | browsers | `{"username", "password"}` → 200 `{"user_id"}` and the pair in two `HttpOnly` cookies; the body holds no token |
//! | `DELETE /session` | browsers | the session of the refresh cookie is revoked, both cookies cleared → 204, also when there was no session |
//! | `GET /user` | all | the verified claims of the `Authorization: Bearer` token or of the access cookie (`StlockLayer`), refreshed on the fly when due |
//! | `POST /orders` | all | `{"item"}`, as JSON or as a form → 201, the order placed and the user's id |
//! | `GET`, `DELETE /orders/{id}` | all | as `/user`, and the user's grant policies must allow the call (`GrantLayer`) |
//!
//! Unlike the Python original, `/user` reads the token from the `Authorization` header or a
//! cookie, never from the query string (which ends up in access logs), and verifies it before
//! answering. The layer the example builds refreshes tokens in cookie mode: a browser whose
//! access cookie expired gets a new pair in cookies with its next response, once however many of
//! its requests race.
//!
//! A browser attaches its cookies to every request to the site, also to one that a page of
//! another origin makes it send. So every route that acts on the session cookies refuses, with
//! 403, a request that changes state and comes from another origin: `StlockLayer` does it for
//! the routes behind it (`POST /orders` here, which an HTML form could post to), and
//! tower-http's `CsrfLayer`, the same check, for `/session`, which handles the cookies before
//! any token is verified. Requests with a bearer token, and clients that are no browser, are not
//! concerned.
//!
//! Every error is JSON `{"detail": "..."}`: the service's own errors keep their status and
//! detail, bad input is a 4xx, and nothing the client sends can cause a 500 or a panic.
//!
//! The tests include this file (`#[path]`), so they exercise the very router the example serves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use stlock::refresh::{BrowserCookies, SessionCookies};
use stlock::rejection::{DefaultRejection, RejectionHandler};
use stlock::{Claims, Client, GrantLayer, Registration, StlockLayer, StlockUser, TokenPair, User};
use tower_http::csrf::{CsrfLayer, ProtectionError};

/// Called with each user that `POST /register` created; returns the user to answer with.
pub type OnRegister = Arc<dyn Fn(User) -> User + Send + Sync>;

/// The application, to configure and then turn into a [`Router`].
pub struct App<R = DefaultRejection> {
    auth: StlockLayer<R>,
    grants: GrantLayer<R>,
    on_register: Option<OnRegister>,
    orders: Orders,
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
            orders: Orders::default(),
        }
    }

    /// Runs `hook` on every user that `POST /register` created; what it returns is the answer.
    pub fn on_register(mut self, hook: impl Fn(User) -> User + Send + Sync + 'static) -> Self {
        self.on_register = Some(Arc::new(hook));
        self
    }

    /// The orders that `POST /orders` places, counted.
    // The tests read it to tell whether a forged request placed an order; the example does not.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn orders(&self) -> Orders {
        self.orders.clone()
    }

    /// The router: public routes, the browser session, the token-protected `/user` and
    /// `POST /orders`, and the grant-checked orders.
    pub fn router(self) -> Router {
        let auth = self.auth;
        let cookies = auth.browser_cookies();
        let state = AppState {
            client: auth.client().clone(),
            on_register: self.on_register,
            orders: self.orders,
        };
        // `/session` sets and clears the session cookies outside `StlockLayer`, so it gets the
        // layer's cross-origin check from tower-http: with it, a page of another origin can
        // neither sign the browser out nor into an account of its choosing.
        let same_origin = CsrfLayer::new().with_rejection_response(cross_origin_refused);
        // Each layer wraps the handlers of one method router (`MethodRouter::route_layer`), so a
        // wrong method is a 405, token or not. On the router (`Router::route_layer`) it would
        // wrap each path's 405 answer too, and a wrong method without a token would be a 401,
        // unless `method_not_allowed_fallback` happened to be called after it.
        let mut router = Router::new()
            .route("/", get(page))
            .route("/register", post(register))
            .route("/login", post(login))
            .route("/refresh", post(refresh))
            .route("/logout", post(logout));
        // The browser session, with the cookies of the layer's cookie-mode auto-refresh: a
        // layer without it has no cookies to set.
        if let Some(cookies) = cookies {
            router = router.route(
                "/session",
                post(sign_in)
                    .delete(sign_out)
                    .with_state(SessionState {
                        client: auth.client().clone(),
                        cookies,
                    })
                    .route_layer(same_origin),
            );
        }
        router
            .route("/user", get(current_user).route_layer(auth.clone()))
            // Any signed-in user may place an order; no grant is asked for.
            .route("/orders", post(place_order).route_layer(auth.clone()))
            // The grant layer goes inside the token layer: it needs the verified user.
            .route(
                "/orders/{id}",
                get(order)
                    .delete(delete_order)
                    .route_layer(self.grants)
                    .route_layer(auth),
            )
            .fallback(not_found)
            // A JSON body for every 405. It applies to the routes added above, and is not behind
            // their layers, which wrap only the handlers.
            .method_not_allowed_fallback(method_not_allowed)
            .with_state(state)
    }
}

/// How many orders `POST /orders` placed. The demo keeps no orders, only their number, so
/// that no client can make it hold more and more memory.
#[derive(Clone, Debug, Default)]
pub struct Orders(Arc<AtomicU64>);

impl Orders {
    /// The number of orders placed so far.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn placed(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Places one; returns its number, from 1.
    fn place(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

#[derive(Clone)]
struct AppState {
    client: Client,
    on_register: Option<OnRegister>,
    orders: Orders,
}

/// What the browser-session routes use: the client, and the cookies of the layer's auto-refresh.
#[derive(Clone)]
struct SessionState {
    client: Client,
    cookies: BrowserCookies,
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

#[derive(Deserialize)]
struct NewOrder {
    item: String,
}

/// The longest item name an order takes, in characters.
const MAX_ITEM_CHARS: usize = 200;

/// Responses that carry tokens in their body must not be kept by any cache (RFC 6749, 5.1).
const NO_STORE: [(axum::http::HeaderName, &str); 1] = [(CACHE_CONTROL, "no-store")];

async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let registration = Registration::new(body.username, body.email, body.phone, body.password);
    let mut user = state.client.register(&registration).await?;
    if let Some(hook) = &state.on_register {
        user = hook(user);
    }
    Ok((StatusCode::CREATED, Json(user)))
}

/// The pair as JSON, for API clients, which keep it themselves: no cookie.
async fn login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<impl IntoResponse, ApiError> {
    let pair: TokenPair = state.client.login(&body.username, &body.password).await?;
    Ok((NO_STORE, Json(pair)))
}

async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<impl IntoResponse, ApiError> {
    let pair: TokenPair = state.client.refresh(&body.refresh_token).await?;
    Ok((NO_STORE, Json(pair)))
}

/// Signs out the refresh token of the body. Browsers, which cannot read their `HttpOnly`
/// refresh cookie to send it, use `DELETE /session`.
async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.client.logout(&body.refresh_token).await?;
    Ok(Json(serde_json::json!({ "logged_out": true })))
}

/// Signs a browser in: the pair goes into two `HttpOnly` cookies, out of reach of the page's
/// scripts, and the body says who signed in, without a token.
async fn sign_in(
    State(session): State<SessionState>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<(SessionCookies, Json<serde_json::Value>), ApiError> {
    let pair = session.client.login(&body.username, &body.password).await?;
    let claims = session.client.decode(&pair.access_token)?;
    let cookies = session.cookies.set(&pair)?;
    Ok((cookies, Json(serde_json::json!({ "user_id": claims.sub }))))
}

/// Signs a browser out: revokes the session of its refresh cookie at the service and clears
/// both cookies, 204. Without a refresh cookie, or with one the service no longer takes (spent,
/// expired, already signed out), there is nothing to revoke: the cookies are cleared all the
/// same, so that signing out always leaves the browser signed out. Only when the service cannot
/// be asked are the cookies kept, with a 502 or 504, so that signing out again can still revoke
/// the session rather than leave it alive unseen.
async fn sign_out(
    State(session): State<SessionState>,
    headers: HeaderMap,
) -> Result<(StatusCode, SessionCookies, ()), ApiError> {
    if let Some(refresh_token) = session.cookies.refresh_token(&headers) {
        match session.client.logout(refresh_token).await {
            Ok(()) => {}
            Err(stlock::Error::Service(refused)) if refused.status().is_client_error() => {}
            Err(stlock::Error::InvalidInput { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok((StatusCode::NO_CONTENT, session.cookies.clear(), ()))
}

/// The answer of tower-http's cross-origin check, in the app's JSON shape, as `StlockLayer`
/// words its own.
fn cross_origin_refused(error: ProtectionError) -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        format!("cross-origin request refused: {error}"),
    )
    .into_response()
}

/// A page for trying the browser flow: sign in, call `/user` many times at once, place an
/// order, sign out; the tokens never leave their `HttpOnly` cookies. The browser tests drive it.
async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

/// The Python `/user`: the token's claims, here verified by `StlockLayer` before we get them.
async fn current_user(user: StlockUser) -> Json<Claims> {
    Json(user.into_claims())
}

/// Places an order for the signed-in user: 201, with the order's address in `Location`.
async fn place_order(
    State(state): State<AppState>,
    user: StlockUser,
    OrderBody(body): OrderBody,
) -> Result<impl IntoResponse, ApiError> {
    let item = body.item.trim();
    if item.is_empty() || item.chars().count() > MAX_ITEM_CHARS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`item` must hold 1 to {MAX_ITEM_CHARS} characters"),
        ));
    }
    let id = state.orders.place();
    let order = serde_json::json!({ "id": id, "item": item, "user_id": user.user_id() });
    Ok((
        StatusCode::CREATED,
        [(LOCATION, format!("/orders/{id}"))],
        Json(order),
    ))
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

/// A new order, from JSON or from a form (`item=…`), which is what an HTML form posts without
/// any script: the kind of request a page of another origin can make a browser send.
struct OrderBody(NewOrder);

impl<S: Send + Sync> FromRequest<S> for OrderBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let form = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if form {
            match Form::<NewOrder>::from_request(request, state).await {
                Ok(Form(order)) => Ok(OrderBody(order)),
                Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
            }
        } else {
            JsonBody::from_request(request, state)
                .await
                .map(|JsonBody(order)| OrderBody(order))
        }
    }
}

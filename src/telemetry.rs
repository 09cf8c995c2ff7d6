//! What stlock tells an operator as it works: counters and histograms through the `metrics`
//! facade (with the `metrics` feature; the names and labels are in [`crate::metrics`]), spans
//! around the calls to the service, and the verified user on the request's span.
//!
//! Without the feature every recording here is an empty function. With it, each key, labels
//! included, is made at compile time: recording hashes nothing and allocates nothing, so that a
//! request pays the installed recorder's own work and no more.

use std::time::Duration;

/// An enum of a metric's label values, each with its key made at compile time.
macro_rules! labelled {
    (
        $(#[$meta:meta])*
        enum $name:ident for $metric:ident {
            $($(#[$variant_meta:meta])* $variant:ident => [$($label:literal = $value:literal),+]),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            /// Adds one to this value's counter, in the recorder installed now (nothing without
            /// the `metrics` feature).
            #[inline]
            pub(crate) fn count(self) {
                #[cfg(feature = "metrics")]
                count(self.key());
            }

            #[cfg(feature = "metrics")]
            fn key(self) -> &'static ::metrics::Key {
                match self {
                    $(Self::$variant => {
                        static LABELS: [::metrics::Label; [$($label),+].len()] =
                            [$(::metrics::Label::from_static_parts($label, $value)),+];
                        static KEY: ::metrics::Key =
                            ::metrics::Key::from_static_parts(crate::metrics::$metric, &LABELS);
                        &KEY
                    })+
                }
            }
        }
    };
}

labelled! {
    /// What came of a request through `StlockLayer`.
    enum Authentication for AUTHENTICATIONS {
        Accepted => ["result" = "accepted"],
        Anonymous => ["result" = "anonymous"],
        MissingToken => ["result" = "missing_token"],
        MalformedCredentials => ["result" = "malformed_credentials"],
        MalformedToken => ["result" = "malformed_token"],
        DisallowedAlgorithm => ["result" = "disallowed_algorithm"],
        BadSignature => ["result" = "bad_signature"],
        Expired => ["result" = "expired"],
        WrongAudience => ["result" = "wrong_audience"],
        WrongType => ["result" = "wrong_type"],
        ForeignOwner => ["result" = "foreign_owner"],
        ForeignPool => ["result" = "foreign_pool"],
        SessionEnded => ["result" = "session_ended"],
        RefreshUnavailable => ["result" = "refresh_unavailable"],
        CrossOrigin => ["result" = "cross_origin"],
        // The grant layer's rejections: `StlockLayer` makes none of them.
        RevokedToken => ["result" = "revoked_token"],
        GrantDenied => ["result" = "grant_denied"],
        InvalidPath => ["result" = "invalid_path"],
        GrantUnavailable => ["result" = "grant_unavailable"],
        MissingLayer => ["result" = "missing_layer"],
    }
}

labelled! {
    /// Whether a token was in the verified-token cache.
    enum TokenCacheLookup for TOKEN_CACHE {
        Hit => ["result" = "hit"],
        Miss => ["result" = "miss"],
    }
}

labelled! {
    /// How the refresh of a request's due token ended.
    enum Refresh for REFRESHES {
        Refreshed => ["result" = "refreshed"],
        Shared => ["result" = "shared"],
        Refused => ["result" = "refused"],
        Unavailable => ["result" = "unavailable"],
        SuspectedTheft => ["result" = "suspected_theft"],
        Unverifiable => ["result" = "unverifiable"],
    }
}

labelled! {
    /// A grant check's decision, and where the answer came from.
    enum GrantCheck for GRANT_CHECKS {
        AllowedHit => ["decision" = "allowed", "cache" = "hit"],
        DeniedHit => ["decision" = "denied", "cache" = "hit"],
        AllowedMiss => ["decision" = "allowed", "cache" = "miss"],
        DeniedMiss => ["decision" = "denied", "cache" = "miss"],
        RevokedMiss => ["decision" = "revoked", "cache" = "miss"],
        InvalidPathMiss => ["decision" = "invalid_path", "cache" = "miss"],
        UnavailableMiss => ["decision" = "unavailable", "cache" = "miss"],
        AllowedOff => ["decision" = "allowed", "cache" = "off"],
        DeniedOff => ["decision" = "denied", "cache" = "off"],
        RevokedOff => ["decision" = "revoked", "cache" = "off"],
        InvalidPathOff => ["decision" = "invalid_path", "cache" = "off"],
        UnavailableOff => ["decision" = "unavailable", "cache" = "off"],
    }
}

/// What the service decided on a grant it was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrantDecided {
    Allowed,
    Denied,
    Revoked,
    InvalidPath,
    Unavailable,
}

impl GrantDecided {
    /// The check as counted: asked with the layer's cache on (a miss) or off.
    pub(crate) fn asked(self, cache_on: bool) -> GrantCheck {
        use GrantCheck::*;
        match (self, cache_on) {
            (GrantDecided::Allowed, true) => AllowedMiss,
            (GrantDecided::Denied, true) => DeniedMiss,
            (GrantDecided::Revoked, true) => RevokedMiss,
            (GrantDecided::InvalidPath, true) => InvalidPathMiss,
            (GrantDecided::Unavailable, true) => UnavailableMiss,
            (GrantDecided::Allowed, false) => AllowedOff,
            (GrantDecided::Denied, false) => DeniedOff,
            (GrantDecided::Revoked, false) => RevokedOff,
            (GrantDecided::InvalidPath, false) => InvalidPathOff,
            (GrantDecided::Unavailable, false) => UnavailableOff,
        }
    }

    /// The decision as a span shows it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GrantDecided::Allowed => "allowed",
            GrantDecided::Denied => "denied",
            GrantDecided::Revoked => "revoked",
            GrantDecided::InvalidPath => "invalid_path",
            GrantDecided::Unavailable => "unavailable",
        }
    }
}

/// Counts a request through `StlockLayer`, its result worked out only when metrics are
/// recorded: without the feature a rejection's kind is never looked up.
#[inline]
pub(crate) fn authentication_of(result: impl FnOnce() -> Authentication) {
    #[cfg(feature = "metrics")]
    result().count();
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// The calls to the service whose duration is recorded.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timed {
    /// A refresh (`stlock_refresh_duration_seconds`).
    Refresh,
    /// A grant check (`stlock_grant_check_duration_seconds`).
    GrantCheck,
}

impl Timed {
    /// Records that the call took `took`, in the recorder installed now.
    pub(crate) fn took(self, took: Duration) {
        #[cfg(feature = "metrics")]
        {
            static REFRESH: ::metrics::Key =
                ::metrics::Key::from_static_name(crate::metrics::REFRESH_DURATION);
            static GRANT_CHECK: ::metrics::Key =
                ::metrics::Key::from_static_name(crate::metrics::GRANT_CHECK_DURATION);
            let key = match self {
                Timed::Refresh => &REFRESH,
                Timed::GrantCheck => &GRANT_CHECK,
            };
            ::metrics::with_recorder(|recorder| {
                recorder
                    .register_histogram(key, &METADATA)
                    .record(took.as_secs_f64());
            });
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (self, took);
    }
}

#[cfg(feature = "metrics")]
static METADATA: ::metrics::Metadata<'static> =
    ::metrics::Metadata::new("stlock", ::metrics::Level::INFO, Some(module_path!()));

/// Adds one to `key`'s counter, in the recorder installed now.
#[cfg(feature = "metrics")]
#[inline]
fn count(key: &'static ::metrics::Key) {
    ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(1));
}

/// The span of one refresh call to the service; its `result` is recorded when the call ends.
pub(crate) fn refresh_span() -> tracing::Span {
    tracing::info_span!("stlock.refresh", result = tracing::field::Empty)
}

/// The span of one grant check at the service; its `decision` is recorded when it ends.
pub(crate) fn grant_check_span(method: &http::Method, path: &str) -> tracing::Span {
    tracing::info_span!(
        "stlock.grant_check",
        http.request.method = %method,
        url.path = path,
        decision = tracing::field::Empty,
    )
}

/// The field of OpenTelemetry's semantic conventions for the user a request is made by.
pub(crate) const ENDUSER_ID: &str = "enduser.id";

/// Records `user_id` on the current span (the request's, with `tower_http::trace`), when that
/// span has an `enduser.id` field; a span without the field is left as it is.
pub(crate) fn record_user(user_id: &str) {
    tracing::Span::current().record(ENDUSER_ID, user_id);
}

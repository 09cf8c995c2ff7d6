//! Sign-in sessions ("families") and the tokens issued in them: rotation and revocation.
//!
//! Each login starts a session. Every pair issued in it is recorded by `jti`; only the newest
//! refresh token of a session may be used, and using any older one revokes the session.

use std::collections::HashMap;

use crate::error::ApiError;
use stlock::Claims;

/// Never sweep below this many recorded tokens: small states are not worth the pass.
const MIN_PRUNE_AT: usize = 1024;

pub(crate) struct Sessions {
    families: HashMap<String, Family>,
    /// Every token issued and not yet pruned, by `jti`.
    tokens: HashMap<String, Issued>,
    /// Size of `tokens` at which expired entries are next swept out.
    prune_at: usize,
}

struct Family {
    user_id: String,
    /// The one refresh token of the family that may still be used.
    current_refresh: String,
    revoked: bool,
    /// When its last token expires; after that it can be forgotten.
    expires: u64,
}

struct Issued {
    family: String,
    expires: u64,
}

impl Sessions {
    pub(crate) fn new() -> Self {
        Self {
            families: HashMap::new(),
            tokens: HashMap::new(),
            prune_at: MIN_PRUNE_AT,
        }
    }

    /// Records a pair issued at `now`: in a new session of `user_id` when `family` is `None`,
    /// else as the newest pair of that session.
    pub(crate) fn record_pair(
        &mut self,
        family: Option<String>,
        user_id: &str,
        access: &Claims,
        refresh: &Claims,
        now: u64,
    ) {
        self.prune(now);
        let family_id = family.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let entry = self
            .families
            .entry(family_id.clone())
            .or_insert_with(|| Family {
                user_id: user_id.to_owned(),
                current_refresh: String::new(),
                revoked: false,
                expires: 0,
            });
        entry.current_refresh = refresh.jti.clone();
        entry.expires = access.exp.max(refresh.exp);
        for claims in [access, refresh] {
            self.tokens.insert(
                claims.jti.clone(),
                Issued {
                    family: family_id.clone(),
                    expires: claims.exp,
                },
            );
        }
    }

    /// Refuses an access token whose session has been revoked (or forgotten).
    pub(crate) fn check_access(&self, claims: &Claims) -> Result<(), ApiError> {
        self.live_family_of(claims).map(drop)
    }

    /// The session of a refresh token, if it is its session's newest one. Check and use are
    /// one step under the caller's lock, so of concurrent uses of one token exactly one
    /// passes; an older token is taken for a stolen one and revokes the session.
    pub(crate) fn use_refresh(&mut self, claims: &Claims) -> Result<String, ApiError> {
        let family_id = self.live_family_of(claims)?.to_owned();
        let family = self
            .families
            .get_mut(&family_id)
            .ok_or(ApiError::RevokedToken)?;
        if family.current_refresh != claims.jti {
            family.revoked = true;
            return Err(ApiError::RefreshReused);
        }
        Ok(family_id)
    }

    pub(crate) fn revoke(&mut self, family_id: &str) {
        if let Some(family) = self.families.get_mut(family_id) {
            family.revoked = true;
        }
    }

    pub(crate) fn revoke_user(&mut self, user_id: &str) {
        for family in self.families.values_mut() {
            if family.user_id == user_id {
                family.revoked = true;
            }
        }
    }

    fn live_family_of(&self, claims: &Claims) -> Result<&str, ApiError> {
        let issued = self.tokens.get(&claims.jti).ok_or(ApiError::RevokedToken)?;
        match self.families.get(&issued.family) {
            Some(family) if !family.revoked => Ok(&issued.family),
            _ => Err(ApiError::RevokedToken),
        }
    }

    /// Forgets expired tokens and sessions once their number has doubled since the last
    /// sweep, so memory stays bounded at an amortised O(1) per issued token.
    fn prune(&mut self, now: u64) {
        if self.tokens.len() < self.prune_at {
            return;
        }
        self.tokens.retain(|_, issued| issued.expires > now);
        self.families.retain(|_, family| family.expires > now);
        self.prune_at = (self.tokens.len() * 2).max(MIN_PRUNE_AT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stlock::token::AUDIENCE;
    use stlock::TokenType;

    fn claims(jti: &str, token_type: TokenType, exp: u64) -> Claims {
        Claims {
            jti: jti.into(),
            exp,
            iat: 0,
            token_type,
            aud: AUDIENCE.into(),
            sub: "user".into(),
            owner_sub: "owner".into(),
            user_pool_sub: "pool".into(),
        }
    }

    fn pair(n: usize, exp: u64) -> (Claims, Claims) {
        (
            claims(&format!("a{n}"), TokenType::Access, exp),
            claims(&format!("r{n}"), TokenType::Refresh, exp),
        )
    }

    #[test]
    fn only_the_newest_refresh_token_works_and_an_older_one_revokes_the_session() {
        let mut sessions = Sessions::new();
        let (a0, r0) = pair(0, 100);
        sessions.record_pair(None, "user", &a0, &r0, 0);
        let family = sessions.use_refresh(&r0).unwrap();
        let (a1, r1) = pair(1, 100);
        sessions.record_pair(Some(family), "user", &a1, &r1, 0);
        assert!(sessions.check_access(&a0).is_ok());
        assert!(matches!(
            sessions.use_refresh(&r0),
            Err(ApiError::RefreshReused)
        ));
        assert!(matches!(
            sessions.use_refresh(&r1),
            Err(ApiError::RevokedToken)
        ));
        assert!(matches!(
            sessions.check_access(&a1),
            Err(ApiError::RevokedToken)
        ));
    }

    #[test]
    fn expired_tokens_are_forgotten_once_there_are_enough() {
        let mut sessions = Sessions::new();
        for n in 0..MIN_PRUNE_AT / 2 {
            let (access, refresh) = pair(n, 100);
            sessions.record_pair(None, "user", &access, &refresh, 0);
        }
        let (access, refresh) = pair(usize::MAX, 1000);
        sessions.record_pair(None, "user", &access, &refresh, 500);
        assert_eq!((sessions.tokens.len(), sessions.families.len()), (2, 1));
        assert!(sessions.check_access(&access).is_ok());
    }
}

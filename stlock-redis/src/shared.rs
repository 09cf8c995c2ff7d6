//! What every clone of a [`RedisStore`](crate::RedisStore), and every attempt it runs, shares.

use stlock::refresh::InProcessStore;

use crate::commands::Commands;
use crate::connection::Target;
use crate::integrity::Integrity;
use crate::settings::Settings;

/// What every clone of a store, and every attempt it runs, shares.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) commands: Commands,
    pub(crate) integrity: Integrity,
    pub(crate) local: InProcessStore,
}

impl Shared {
    pub(crate) fn new(target: Target, settings: Settings) -> Self {
        Self {
            commands: Commands::new(target, settings.clone()),
            settings,
            integrity: Integrity::new(),
            local: InProcessStore::new(),
        }
    }
}

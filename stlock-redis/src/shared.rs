//! What every clone of a [`RedisStore`](crate::RedisStore), and every attempt it runs, shares.

use redis::Client;
use stlock::refresh::InProcessStore;

use crate::commands::Commands;
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
    pub(crate) fn new(client: Client, settings: Settings) -> Self {
        Self {
            commands: Commands::new(client, settings.clone()),
            settings,
            integrity: Integrity::new(),
            local: InProcessStore::new(),
        }
    }
}

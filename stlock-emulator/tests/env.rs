//! `env_or_start`: the service named by the `STLOCK_*` variables, else a fresh emulator.
//! One test in its own binary, since it changes the process's environment.

use stlock::config::env;
use stlock::{Client, ConfigError, Registration};
use stlock_emulator::{Emulator, EmulatorError, HashCost};

#[tokio::test]
async fn the_variables_decide_between_a_real_service_and_an_emulator() {
    std::env::remove_var(env::ENDPOINT);
    let (config, started) = stlock_emulator::env_or_start().await.unwrap();
    let started = started.expect("no STLOCK_ENDPOINT: an emulator was started");
    assert_eq!(
        config.endpoint().as_str(),
        format!("{}/", started.endpoint())
    );

    // A "real" service: another emulator, named through the variables.
    let service = Emulator::builder()
        .hash_cost(HashCost::Fast)
        .start()
        .await
        .unwrap();
    let creds = service.credentials();
    std::env::set_var(env::ENDPOINT, &creds.endpoint);
    std::env::set_var(env::USER_POOL_ID, &creds.user_pool_id);
    std::env::set_var(env::OWNER_ID, &creds.owner_id);
    std::env::set_var(env::API_KEY, creds.api_key.expose());
    std::env::set_var(env::JWT_SECRET, creds.jwt_secret.expose());
    let (config, started) = stlock_emulator::env_or_start().await.unwrap();
    assert!(started.is_none(), "STLOCK_ENDPOINT set: nothing is started");
    assert_eq!(config.user_pool_id(), creds.user_pool_id);
    let user = Client::new(config)
        .unwrap()
        .register(&Registration::new(
            "alice",
            "alice@example.com",
            "79111111111",
            "pw",
        ))
        .await
        .unwrap();
    assert_eq!(service.users(&creds.user_pool_id).unwrap(), [user]);

    std::env::remove_var(env::JWT_SECRET);
    let err = stlock_emulator::env_or_start().await.unwrap_err();
    assert!(
        matches!(
            err,
            EmulatorError::Config(ConfigError::Missing("STLOCK_JWT_SECRET"))
        ),
        "{err:?}"
    );
}

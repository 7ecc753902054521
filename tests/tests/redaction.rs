//! Credentials never show: not in the Debug output of the options, not in
//! the errors (Display or Debug) of a refused connection. TLS verification
//! by default and mutual TLS are tested by the Python binding's suite
//! (`bindings-python/tests/test_transports.py`) over this same crate.

use bytes::Bytes;
use midge_core::packet::ProtocolVersion;
use midge_native::{NativeClient, NativeError, NativeOptions};
use midge_system_tests::broker::{Broker, MosquittoConfig};

const PASSWORD: &str = "pw-Zq81-secret";
const AUTH_DATA: &[u8] = b"authdata-Kx77-secret";
const KEY: &[u8] =
    b"-----BEGIN PRIVATE KEY-----\nkeybytes-Vv42-secret\n-----END PRIVATE KEY-----\n";

fn assert_clean(what: &str, text: &str) {
    for secret in [PASSWORD, "authdata-Kx77", "keybytes-Vv42"] {
        assert!(!text.contains(secret), "{what} shows a secret: {text}");
    }
}

fn options(url: &str) -> NativeOptions {
    let mut o = NativeOptions::new(url).expect("url");
    o.client.client_id = format!("redact-{}", std::process::id());
    o.client.username = Some("alice".into());
    o.client.password = Some(Bytes::from_static(PASSWORD.as_bytes()));
    o.client.reconnect = None;
    o
}

#[test]
fn debug_of_the_options_hides_password_auth_data_and_key() {
    let mut o = options("mqtts://127.0.0.1:1");
    o.client.connect_properties.authentication_method = Some("SCRAM-SHA-1".into());
    o.client.connect_properties.authentication_data = Some(Bytes::from_static(AUTH_DATA));
    o.tls.client_key_pem = Some(KEY.to_vec());
    assert_clean("NativeOptions Debug", &format!("{o:?}"));
    assert_clean("NativeOptions Debug (pretty)", &format!("{o:#?}"));
    assert_clean("ClientOptions Debug", &format!("{:?}", o.client));
}

#[test]
fn refused_connections_do_not_echo_credentials() {
    let dir = tempfile::tempdir().expect("temp dir");
    let passwords = dir.path().join("passwd");
    let made = std::process::Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwords)
        .args(["alice", "the-right-one"])
        .status()
        .expect("mosquitto_passwd runs");
    assert!(made.success());
    let broker = Broker::mosquitto(MosquittoConfig {
        extra: format!(
            "allow_anonymous false\npassword_file {}",
            passwords.display()
        ),
        ..Default::default()
    })
    .expect("mosquitto");
    let rt = midge_native::runtime();
    for version in [ProtocolVersion::V5, ProtocolVersion::V311] {
        let mut o = options(&broker.url());
        o.client.protocol = version;
        let client = NativeClient::new(o).expect("client");
        let err = rt.block_on(client.connect()).expect_err("wrong password");
        assert!(
            matches!(err, NativeError::ConnectionRefused { .. }),
            "{err:?}"
        );
        assert_clean("error Display", &err.to_string());
        assert_clean("error Debug", &format!("{err:?}"));
        assert_clean("client Debug", &format!("{client:?}"));
    }
    // 5.0 enhanced auth with a method mosquitto does not know: refused, and
    // the auth data is not in the error.
    let mut o = options(&broker.url());
    o.client.connect_properties.authentication_method = Some("SCRAM-SHA-1".into());
    o.client.connect_properties.authentication_data = Some(Bytes::from_static(AUTH_DATA));
    let client = NativeClient::new(o).expect("client");
    let err = rt.block_on(client.connect()).expect_err("unknown method");
    assert_clean("auth error Display", &err.to_string());
    assert_clean("auth error Debug", &format!("{err:?}"));
    // The broker's log does not get them either (mosquitto logs client ids
    // and user names only): a check that our CONNECT did not, e.g., put the
    // password in the client id or user name.
    assert_clean("broker log", &broker.log());
}

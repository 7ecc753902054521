//! Python values <-> midge types. Type errors name the argument and the rule.

use bytes::Bytes;
use midge_core::backoff::BackoffPolicy;
use midge_core::packet::{
    AckProperties, ConnAckProperties, DisconnectProperties, LastWill, ProtocolVersion,
    PublishProperties, QoS, RetainHandling, WillProperties,
};
use midge_core::server::ServerAddress;
use midge_core::Connected;
use midge_native::{NativeOptions, StoreConfig};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};

use crate::invalid;

/// Read an optional key: absent and None are both `None`.
fn get<'py, T: FromPyObjectOwned<'py>>(
    dict: &Bound<'py, PyDict>,
    key: &str,
    rule: &str,
) -> PyResult<Option<T>> {
    match dict.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v.extract::<T>().map(Some).map_err(|_| invalid(key, rule)),
    }
}

/// The core's trace, relayed to `_log(level, message, is_packet)` (set by
/// `midge._client`, which hands it to the `midge` loggers). The lines are
/// logged on the `midge-asyncio` thread, never on a tokio worker: a logging
/// handler may block (a file, a socket) and must not stall the connection.
fn trace_sink(d: &Bound<'_, PyDict>) -> PyResult<Option<midge_native::TraceSink>> {
    use midge_core::trace::Severity;
    let Some(log) = d.get_item("_log")?.filter(|l| !l.is_none()) else {
        return Ok(None);
    };
    let level = match get::<u8>(d, "_trace_level", "must be 10, 20, 30 or None")? {
        None => None,
        Some(10) => Some(Severity::Debug),
        Some(20) => Some(Severity::Info),
        Some(30) => Some(Severity::Warning),
        Some(_) => return Err(invalid("_trace_level", "must be 10, 20, 30 or None")),
    };
    let log = std::sync::Arc::new(log.unbind());
    let mut sink = midge_native::TraceSink::new(level, move |record| {
        let log = log.clone();
        crate::aio::complete_later(Box::new(move |py| {
            let args = (
                record.severity as u8,
                record.message,
                record.packet.is_some(),
            );
            if let Err(e) = log.call1(py, args) {
                // A failing handler must not end the logging thread.
                e.print(py);
            }
        }));
    });
    sink.payloads = get(d, "log_payloads", "must be a bool")?.unwrap_or(false);
    Ok(Some(sink))
}

/// The `credentials` option, wrapped by `midge._client` into a plain
/// callable `(server_url) -> dict` (it runs an async provider on the
/// client's event loop). Called on a blocking thread, attached to the
/// interpreter, before every connection attempt.
fn credentials_provider(
    d: &Bound<'_, PyDict>,
) -> PyResult<Option<midge_native::CredentialsProvider>> {
    let Some(fetch) = d.get_item("_credentials")?.filter(|f| !f.is_none()) else {
        return Ok(None);
    };
    let fetch = std::sync::Arc::new(fetch.unbind());
    Ok(Some(midge_native::CredentialsProvider::new(
        move |server| {
            let fetch = fetch.clone();
            Box::pin(async move {
                let url = server.url();
                let answer = tokio::task::spawn_blocking(move || {
                    crate::aio::attach(|py| -> Result<midge_native::FreshCredentials, String> {
                        let given = fetch.call1(py, (url,)).map_err(|e| e.to_string())?;
                        let given = given.bind(py);
                        let dict = given.cast::<PyDict>().map_err(|_| {
                            "the credentials provider must return a dict".to_string()
                        })?;
                        fresh_credentials(dict).map_err(|e| e.to_string())
                    })
                    .unwrap_or_else(|| Err("the interpreter is exiting".into()))
                })
                .await;
                answer.unwrap_or_else(|e| Err(e.to_string()))
            })
        },
    )))
}

/// `{"username", "password", "auth_data", "url"}`, each optional.
fn fresh_credentials(d: &Bound<'_, PyDict>) -> PyResult<midge_native::FreshCredentials> {
    for key in d.keys() {
        let key: String = key.extract().unwrap_or_default();
        if !["username", "password", "auth_data", "url"].contains(&key.as_str()) {
            return Err(invalid(
                "credentials",
                format!(
                    "returned an unknown key {key:?} (expected username, password, auth_data, url)"
                ),
            ));
        }
    }
    Ok(midge_native::FreshCredentials {
        credentials: midge_core::options::Credentials {
            username: get(d, "username", "must be a str")?,
            password: bytes_key(d, "password")?,
            authentication_data: bytes_key(d, "auth_data")?,
        },
        url: get(d, "url", "must be a str")?,
    })
}

fn seconds_to_ms(key: &str, s: f64) -> PyResult<u64> {
    if !s.is_finite() || !(0.0..=1e9).contains(&s) {
        return Err(invalid(key, "must be a finite number of seconds >= 0"));
    }
    Ok((s * 1000.0).round() as u64)
}

/// The most bytes the remaining length of any MQTT packet can count: a
/// payload above it is refused before it is copied (a 300 MB payload used
/// to cost 300 MB of memory before the refusal).
const MAX_REMAINING_LENGTH: usize = 268_435_455;

fn refuse_if_above_packet_limit(argument: &str, len: usize) -> PyResult<()> {
    if len > MAX_REMAINING_LENGTH {
        return Err(invalid(
            argument,
            format!("is {len} bytes; an MQTT packet holds at most 268,435,455"),
        ));
    }
    Ok(())
}

pub(crate) fn payload_bytes(argument: &str, value: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = value.cast::<PyBytes>() {
        refuse_if_above_packet_limit(argument, b.as_bytes().len())?;
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        // Characters first (no copy): UTF-8 takes at least one byte each.
        refuse_if_above_packet_limit(argument, s.len()?)?;
        let text = s.to_cow()?;
        refuse_if_above_packet_limit(argument, text.len())?;
        return Ok(Bytes::copy_from_slice(text.as_bytes()));
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        refuse_if_above_packet_limit(argument, b.len())?;
        return Ok(Bytes::from(b.to_vec()));
    }
    if value.is_none() {
        return Ok(Bytes::new());
    }
    // memoryview and other buffer objects
    if let Ok(len) = value.len() {
        refuse_if_above_packet_limit(argument, len)?;
    }
    if let Ok(v) = value.extract::<Vec<u8>>() {
        if !value.is_instance_of::<pyo3::types::PyList>() {
            return Ok(Bytes::from(v));
        }
    }
    Err(invalid(
        argument,
        "must be bytes, bytearray, memoryview, str or None",
    ))
}

pub(crate) fn retain_handling(value: u8) -> PyResult<RetainHandling> {
    Ok(match value {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(invalid("retain_handling", "must be 0, 1 or 2")),
    })
}

pub(crate) fn user_props(value: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    const RULE: &str = "must be a dict of str to str or a list of (str, str) pairs";
    if let Ok(d) = value.cast::<PyDict>() {
        let mut out = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            out.push((
                k.extract().map_err(|_| invalid("user_properties", RULE))?,
                v.extract().map_err(|_| invalid("user_properties", RULE))?,
            ));
        }
        return Ok(out);
    }
    // A list of pairs, each a tuple or a two-item list (as JSON gives them).
    let items = value
        .extract::<Vec<Bound<'_, PyAny>>>()
        .map_err(|_| invalid("user_properties", RULE))?;
    items
        .iter()
        .map(|item| {
            item.extract::<(String, String)>()
                .or_else(|_| match item.extract::<Vec<String>>() {
                    Ok(pair) if pair.len() == 2 => Ok((pair[0].clone(), pair[1].clone())),
                    _ => Err(()),
                })
                .map_err(|_| invalid("user_properties", RULE))
        })
        .collect()
}

/// A Payload Format Indicator: a bool, or the 0 or 1 MQTT writes.
fn format_indicator(dict: &Bound<'_, PyDict>) -> PyResult<Option<bool>> {
    const RULE: &str = "must be a bool, 0 or 1";
    match dict.get_item("payload_format_indicator")? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => match v.extract::<bool>() {
            Ok(b) => Ok(Some(b)),
            Err(_) => match v.extract::<u8>() {
                Ok(0) => Ok(Some(false)),
                Ok(1) => Ok(Some(true)),
                _ => Err(invalid("payload_format_indicator", RULE)),
            },
        },
    }
}

pub(crate) fn user_props_opt(value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    match value {
        Some(v) if !v.is_none() => user_props(v),
        _ => Ok(Vec::new()),
    }
}

fn user_props_key(dict: &Bound<'_, PyDict>) -> PyResult<Vec<(String, String)>> {
    user_props_opt(dict.get_item("user_properties")?.as_ref())
}

fn bytes_key(dict: &Bound<'_, PyDict>, key: &str) -> PyResult<Option<Bytes>> {
    match dict.get_item(key)? {
        Some(v) if !v.is_none() => payload_bytes(key, &v).map(Some),
        _ => Ok(None),
    }
}

const KNOWN_PUBLISH_PROPS: &[&str] = &[
    "payload_format_indicator",
    "message_expiry_interval",
    "topic_alias",
    "response_topic",
    "correlation_data",
    "user_properties",
    "content_type",
];

fn check_keys(dict: &Bound<'_, PyDict>, argument: &str, known: &[&str]) -> PyResult<()> {
    for key in dict.keys() {
        let name: String = key
            .extract()
            .map_err(|_| invalid(argument, "keys must be str"))?;
        if !known.contains(&name.as_str()) {
            return Err(invalid(
                argument,
                format!("unknown property `{name}` (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

pub(crate) fn publish_props_from_py(d: &Bound<'_, PyDict>) -> PyResult<PublishProperties> {
    check_keys(d, "properties", KNOWN_PUBLISH_PROPS)?;
    Ok(PublishProperties {
        payload_format_indicator: format_indicator(d)?,
        message_expiry_interval: get(
            d,
            "message_expiry_interval",
            "must be an int from 0 to 4294967295",
        )?,
        topic_alias: get(d, "topic_alias", "must be an int from 1 to 65535")?,
        response_topic: get(d, "response_topic", "must be a str")?,
        correlation_data: bytes_key(d, "correlation_data")?,
        user_properties: user_props_key(d)?,
        subscription_identifiers: Vec::new(),
        content_type: get(d, "content_type", "must be a str")?,
    })
}

pub(crate) fn disconnect_props_from_py(d: &Bound<'_, PyDict>) -> PyResult<DisconnectProperties> {
    check_keys(
        d,
        "properties",
        &[
            "session_expiry_interval",
            "reason_string",
            "user_properties",
        ],
    )?;
    Ok(DisconnectProperties {
        session_expiry_interval: get(
            d,
            "session_expiry_interval",
            "must be an int from 0 to 4294967295",
        )?,
        reason_string: get(d, "reason_string", "must be a str")?,
        user_properties: user_props_key(d)?,
        server_reference: None,
    })
}

pub(crate) fn publish_props_to_py(py: Python<'_>, p: &PublishProperties) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    if let Some(v) = p.payload_format_indicator {
        d.set_item("payload_format_indicator", v)?;
    }
    if let Some(v) = p.message_expiry_interval {
        d.set_item("message_expiry_interval", v)?;
    }
    if let Some(v) = p.topic_alias {
        d.set_item("topic_alias", v)?;
    }
    if let Some(v) = &p.response_topic {
        d.set_item("response_topic", v)?;
    }
    if let Some(v) = &p.correlation_data {
        d.set_item("correlation_data", PyBytes::new(py, v))?;
    }
    if !p.user_properties.is_empty() {
        d.set_item("user_properties", p.user_properties.clone())?;
    }
    if !p.subscription_identifiers.is_empty() {
        d.set_item(
            "subscription_identifiers",
            p.subscription_identifiers.clone(),
        )?;
    }
    if let Some(v) = &p.content_type {
        d.set_item("content_type", v)?;
    }
    Ok(d.into_any().unbind())
}

pub(crate) fn ack_props_to_py(py: Python<'_>, p: &AckProperties) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    if let Some(v) = &p.reason_string {
        d.set_item("reason_string", v)?;
    }
    if !p.user_properties.is_empty() {
        d.set_item("user_properties", p.user_properties.clone())?;
    }
    Ok(d.into_any().unbind())
}

fn connack_props_to_py<'py>(
    py: Python<'py>,
    p: &ConnAckProperties,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    macro_rules! opt {
        ($($name:ident),*) => {$(
            if let Some(v) = &p.$name { d.set_item(stringify!($name), v.clone())?; }
        )*};
    }
    opt!(
        session_expiry_interval,
        receive_maximum,
        retain_available,
        maximum_packet_size,
        assigned_client_identifier,
        topic_alias_maximum,
        reason_string,
        wildcard_subscription_available,
        subscription_identifiers_available,
        shared_subscription_available,
        server_keep_alive,
        response_information,
        server_reference,
        authentication_method
    );
    if let Some(q) = p.maximum_qos {
        d.set_item("maximum_qos", q as u8)?;
    }
    if let Some(v) = &p.authentication_data {
        d.set_item("authentication_data", PyBytes::new(py, v))?;
    }
    if !p.user_properties.is_empty() {
        d.set_item("user_properties", p.user_properties.clone())?;
    }
    Ok(d)
}

pub(crate) fn connected_to_py(py: Python<'_>, c: &Connected) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    d.set_item("server", c.server.to_string())?;
    d.set_item("session_present", c.session_present)?;
    d.set_item("reason_code", c.reason_code.code())?;
    d.set_item("client_id", &c.client_id)?;
    d.set_item("keep_alive", c.keep_alive_secs)?;
    d.set_item("properties", connack_props_to_py(py, &c.properties)?)?;
    d.set_item("reconnected", c.reconnected)?;
    Ok(d.into_any().unbind())
}

fn qos_key(d: &Bound<'_, PyDict>, key: &str) -> PyResult<QoS> {
    let q: u8 = get(d, key, "must be 0, 1 or 2")?.unwrap_or(0);
    QoS::from_u8(q).ok_or_else(|| invalid(key, "must be 0, 1 or 2"))
}

fn will_from_py(d: &Bound<'_, PyDict>) -> PyResult<LastWill> {
    let topic: String =
        get(d, "topic", "must be a str")?.ok_or_else(|| invalid("will", "needs a `topic`"))?;
    let props = match d.get_item("properties")? {
        Some(p) if !p.is_none() => {
            let p = p
                .cast::<PyDict>()
                .map_err(|_| invalid("will.properties", "must be a dict"))?
                .clone();
            check_keys(
                &p,
                "will.properties",
                &[
                    "will_delay_interval",
                    "payload_format_indicator",
                    "message_expiry_interval",
                    "content_type",
                    "response_topic",
                    "correlation_data",
                    "user_properties",
                ],
            )?;
            WillProperties {
                will_delay_interval: get(&p, "will_delay_interval", "must be an int >= 0")?,
                payload_format_indicator: format_indicator(&p)?,
                message_expiry_interval: get(&p, "message_expiry_interval", "must be an int >= 0")?,
                content_type: get(&p, "content_type", "must be a str")?,
                response_topic: get(&p, "response_topic", "must be a str")?,
                correlation_data: bytes_key(&p, "correlation_data")?,
                user_properties: user_props_key(&p)?,
            }
        }
        _ => WillProperties::default(),
    };
    Ok(LastWill {
        topic,
        payload: bytes_key(d, "payload")?.unwrap_or_default(),
        qos: qos_key(d, "qos")?,
        retain: get(d, "retain", "must be a bool")?.unwrap_or(false),
        properties: props,
    })
}

/// Build the native options from the dict the Python layer normalised.
pub(crate) fn native_options(d: &Bound<'_, PyDict>) -> PyResult<NativeOptions> {
    let urls: Vec<String> = get(d, "urls", "must be a str or a list of str")?
        .ok_or_else(|| invalid("url", "at least one broker URL is required"))?;
    if urls.is_empty() {
        return Err(invalid("url", "at least one broker URL is required"));
    }
    let mut options = NativeOptions::new(&urls[0]).map_err(crate::to_py_err)?;
    for url in &urls[1..] {
        let server: ServerAddress = url
            .parse()
            .map_err(|e: midge_core::server::ServerAddressError| invalid("url", e.to_string()))?;
        options.client.servers.push(server);
    }
    let c = &mut options.client;
    if let Some(id) = get::<String>(d, "client_id", "must be a str")? {
        c.client_id = id;
    }
    match get::<u8>(d, "protocol", "must be 4 (3.1.1) or 5")? {
        None | Some(5) => c.protocol = ProtocolVersion::V5,
        Some(4) => c.protocol = ProtocolVersion::V311,
        Some(_) => return Err(invalid("protocol", "must be \"3.1.1\" or 5")),
    }
    if let Some(v) = get(d, "clean_start", "must be a bool")? {
        c.clean_start = v;
    }
    if let Some(v) = get(d, "keep_alive", "must be an int from 0 to 65535 (seconds)")? {
        c.keep_alive_secs = v;
    }
    c.username = get(d, "username", "must be a str")?;
    c.password = bytes_key(d, "password")?;
    if let Some(w) = d.get_item("will")? {
        if !w.is_none() {
            let w = w
                .cast::<PyDict>()
                .map_err(|_| invalid("will", "must be a dict"))?;
            c.will = Some(will_from_py(w)?);
        }
    }
    c.connect_properties.session_expiry_interval = get(
        d,
        "session_expiry",
        "must be an int from 0 to 4294967295 (seconds)",
    )?;
    c.connect_properties.request_response_information =
        get(d, "request_response_information", "must be a bool")?;
    c.connect_properties.request_problem_information =
        get(d, "request_problem_information", "must be a bool")?;
    c.connect_properties.user_properties = user_props_key(d)?;
    c.connect_properties.authentication_method = get(d, "authentication_method", "must be a str")?;
    c.connect_properties.authentication_data = bytes_key(d, "authentication_data")?;
    if let Some(v) = get(d, "manual_acks", "must be a bool")? {
        c.manual_acks = v;
    }
    if let Some(v) = get(d, "max_queued_messages", "must be an int >= 0")? {
        c.max_queued_messages = v;
    }
    if let Some(v) = get(d, "max_inflight", "must be an int from 1 to 65535")? {
        c.max_inflight = v;
    }
    if let Some(v) = get(d, "receive_maximum", "must be an int from 1 to 65535")? {
        c.receive_maximum = v;
    }
    if let Some(v) = get(d, "strict_receive_maximum", "must be a bool")? {
        c.strict_receive_maximum = v;
    }
    if let Some(v) = get(d, "topic_alias_maximum", "must be an int from 0 to 65535")? {
        c.topic_alias_maximum = v;
    }
    if let Some(v) = get(d, "outbound_topic_aliases", "must be a bool")? {
        c.outbound_topic_aliases = v;
    }
    if let Some(v) = get(d, "max_packet_size", "must be an int from 16 to 268435460")? {
        c.max_incoming_packet_size = v;
    }
    if let Some(v) = get::<f64>(d, "connect_timeout", "must be a number of seconds")? {
        c.connect_timeout_ms = seconds_to_ms("connect_timeout", v)?;
    }
    if let Some(v) = get::<f64>(d, "ping_timeout", "must be a number of seconds")? {
        c.ping_timeout_ms = seconds_to_ms("ping_timeout", v)?;
    }
    let reconnect: bool = get(d, "reconnect", "must be a bool")?.unwrap_or(true);
    c.reconnect = if reconnect {
        let mut policy = BackoffPolicy::default();
        if let Some(v) = get::<f64>(d, "reconnect_min_delay", "must be a number of seconds")? {
            policy.min_delay_ms = seconds_to_ms("reconnect_min_delay", v)?;
        }
        if let Some(v) = get::<f64>(d, "reconnect_max_delay", "must be a number of seconds")? {
            policy.max_delay_ms = seconds_to_ms("reconnect_max_delay", v)?;
        }
        Some(policy)
    } else {
        None
    };
    if let Some(v) = get(d, "reconnect_on_initial_failure", "must be a bool")? {
        c.reconnect_on_initial_failure = v;
    }
    if let Some(v) = get(d, "follow_redirects", "must be a bool")? {
        c.follow_redirects = v;
    }
    if let Some(path) =
        get::<std::path::PathBuf>(d, "session_store", "must be \"memory\" or a file path")?
    {
        if path.as_os_str() != "memory" {
            options.store = StoreConfig::File(path);
        }
    }
    options.tls.ca_pem = bytes_key(d, "ca")?.map(|b| b.to_vec());
    options.tls.client_cert_pem = bytes_key(d, "client_cert")?.map(|b| b.to_vec());
    options.tls.client_key_pem = bytes_key(d, "client_key")?.map(|b| b.to_vec());
    options.tls.insecure_skip_verify =
        get(d, "insecure_skip_verify", "must be a bool")?.unwrap_or(false);
    options.tls.only_custom_ca = get(d, "only_custom_ca", "must be a bool")?.unwrap_or(false);
    options.tls.server_name = get(d, "server_name", "must be a str")?;
    options.tls.alpn_protocols =
        get(d, "alpn_protocols", "must be a list of str")?.unwrap_or_default();
    if let Some(proxy) = get::<String>(d, "proxy", "must be a str")? {
        options.proxy = Some(midge_native::HttpProxy::parse(&proxy).map_err(crate::to_py_err)?);
    }
    if let Some(v) = get(d, "message_buffer", "must be an int >= 1")? {
        options.message_buffer = v;
    }
    options.trace = trace_sink(d)?;
    options.credentials = credentials_provider(d)?;
    Ok(options)
}

//! JS values <-> core types: options, properties, errors.
//!
//! Reads plain JS objects field by field with `Reflect` (no serde: it would
//! double the wasm size). A field of the wrong type is an `INVALID_ARGUMENT`
//! error naming the field and the rule.

use js_sys::{Array, Object, Reflect, Uint8Array};
use midge_core::backoff::BackoffPolicy;
use midge_core::packet::{
    AckProperties, ConnAckProperties, ConnectProperties, DisconnectProperties, LastWill,
    ProtocolVersion, PublishProperties, QoS, ReasonCode, RetainHandling, SubscribeFilter,
    SubscriptionOptions, UserProperty, WillProperties,
};
use midge_core::{ClientError, ClientOptions, ConnectionError, PublishError};
use wasm_bindgen::{JsCast, JsValue};

/// An `Error` with `code` and `reasonCode` (the JS layer turns it into `MqttError`).
pub fn error(code: &str, message: &str, reason_code: Option<ReasonCode>) -> JsValue {
    let e = js_sys::Error::new(message);
    set(&e, "code", &JsValue::from_str(code));
    if let Some(rc) = reason_code {
        set(&e, "reasonCode", &JsValue::from(rc.code()));
    }
    e.into()
}

/// A bad argument: names it and the rule.
pub fn invalid(argument: &str, rule: &str) -> JsValue {
    let mut message = String::from("invalid argument `");
    message.push_str(argument);
    message.push_str("`: ");
    message.push_str(rule);
    error("INVALID_ARGUMENT", &message, None)
}

pub fn client_error(e: &ClientError) -> JsValue {
    let code = match e {
        ClientError::InvalidArgument { .. } => "INVALID_ARGUMENT",
        ClientError::QueueFull { .. } => "QUEUE_FULL",
        ClientError::QoSNotSupported { .. } => "QOS_NOT_SUPPORTED",
        ClientError::RetainNotSupported => "RETAIN_NOT_SUPPORTED",
        ClientError::PacketTooLarge { .. } => "PACKET_TOO_LARGE",
        ClientError::InvalidState { .. } => "INVALID_STATE",
        ClientError::AckNotPending { .. } => "ACK_NOT_PENDING",
        ClientError::Store(_) => "STORE_FAILED",
    };
    error(code, &e.to_string(), None)
}

pub fn connection_error(e: &ConnectionError) -> JsValue {
    let code = match e {
        ConnectionError::Refused { .. } => "CONNECTION_REFUSED",
        ConnectionError::ServerDisconnect { .. } => "SERVER_DISCONNECT",
        ConnectionError::Protocol(_) => "PROTOCOL_ERROR",
        ConnectionError::ConnectTimeout { .. } => "CONNECT_TIMEOUT",
        ConnectionError::KeepAliveTimeout { .. } => "KEEPALIVE_TIMEOUT",
        ConnectionError::TransportClosed => "TRANSPORT_CLOSED",
        ConnectionError::Local => "CLIENT_DISCONNECT",
    };
    error(code, &e.to_string(), e.reason_code())
}

pub fn publish_error(e: &PublishError) -> JsValue {
    let (code, rc) = match e {
        PublishError::Rejected { reason_code, .. } => ("PUBLISH_REJECTED", Some(*reason_code)),
        PublishError::PacketTooLarge { .. } => ("PACKET_TOO_LARGE", None),
        PublishError::NotAllowed { reason_code } => ("PUBLISH_NOT_ALLOWED", Some(*reason_code)),
    };
    error(code, &e.to_string(), rc)
}

// ---------------------------------------------------------------------------
// Reading JS objects

fn set(target: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

/// The field, or `None` when absent, `undefined` or `null`.
fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    if !obj.is_object() {
        return None;
    }
    let v = Reflect::get(obj, &JsValue::from_str(key)).ok()?;
    if v.is_undefined() || v.is_null() {
        None
    } else {
        Some(v)
    }
}

pub fn opt_string(obj: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_string()
            .map(Some)
            .ok_or_else(|| invalid(key, "must be a string")),
    }
}

pub fn opt_bool(obj: &JsValue, key: &str) -> Result<Option<bool>, JsValue> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| invalid(key, "must be a boolean")),
    }
}

/// A whole number in `0..=max`.
pub fn opt_uint(obj: &JsValue, key: &str, max: f64) -> Result<Option<f64>, JsValue> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(n) if n >= 0.0 && n <= max && n.fract() == 0.0 => Ok(Some(n)),
            _ => Err(invalid(key, "must be a whole number in range")),
        },
    }
}

fn opt_u16(obj: &JsValue, key: &str) -> Result<Option<u16>, JsValue> {
    Ok(opt_uint(obj, key, 65_535.0)?.map(|n| n as u16))
}

fn opt_u32(obj: &JsValue, key: &str) -> Result<Option<u32>, JsValue> {
    Ok(opt_uint(obj, key, 4_294_967_295.0)?.map(|n| n as u32))
}

/// A string (UTF-8), `Uint8Array`, other typed array view or `ArrayBuffer`.
pub fn bytes_of(v: &JsValue, key: &str) -> Result<Vec<u8>, JsValue> {
    if let Some(s) = v.as_string() {
        return Ok(s.into_bytes());
    }
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Ok(a.to_vec());
    }
    if let Some(b) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(Uint8Array::new(b).to_vec());
    }
    if ArrayBuffer_is_view(v) {
        let buf = Reflect::get(v, &JsValue::from_str("buffer")).unwrap_or_default();
        let off = Reflect::get(v, &JsValue::from_str("byteOffset"))
            .ok()
            .and_then(|x| x.as_f64())
            .unwrap_or(0.0);
        let len = Reflect::get(v, &JsValue::from_str("byteLength"))
            .ok()
            .and_then(|x| x.as_f64())
            .unwrap_or(0.0);
        return Ok(
            Uint8Array::new_with_byte_offset_and_length(&buf, off as u32, len as u32).to_vec(),
        );
    }
    Err(invalid(
        key,
        "must be a string, Uint8Array, ArrayBuffer or typed array",
    ))
}

#[allow(non_snake_case)]
fn ArrayBuffer_is_view(v: &JsValue) -> bool {
    js_sys::ArrayBuffer::is_view(v)
}

fn opt_bytes(obj: &JsValue, key: &str) -> Result<Option<Vec<u8>>, JsValue> {
    get(obj, key).map(|v| bytes_of(&v, key)).transpose()
}

fn qos_of(v: Option<f64>, key: &str) -> Result<QoS, JsValue> {
    match v {
        None => Ok(QoS::AtMostOnce),
        Some(n) => QoS::from_u8(n as u8).ok_or_else(|| invalid(key, "must be 0, 1 or 2")),
    }
}

/// `userProperties`: an object `{ key: value | value[] }` or an array of `[key, value]`.
fn user_properties(obj: &JsValue) -> Result<Vec<UserProperty>, JsValue> {
    const KEY: &str = "userProperties";
    let Some(v) = get(obj, KEY) else {
        return Ok(Vec::new());
    };
    let rule = "must be an object of strings or an array of [key, value] string pairs";
    let mut out = Vec::new();
    let pairs: Array = if Array::is_array(&v) {
        v.unchecked_into()
    } else if v.is_object() {
        Object::entries(v.unchecked_ref())
    } else {
        return Err(invalid(KEY, rule));
    };
    for pair in pairs.iter() {
        let pair: Array = pair.dyn_into().map_err(|_| invalid(KEY, rule))?;
        let key = pair.get(0).as_string().ok_or_else(|| invalid(KEY, rule))?;
        let value = pair.get(1);
        if Array::is_array(&value) {
            for item in Array::from(&value).iter() {
                let item = item.as_string().ok_or_else(|| invalid(KEY, rule))?;
                out.push((key.clone(), item));
            }
        } else {
            out.push((key, value.as_string().ok_or_else(|| invalid(KEY, rule))?));
        }
    }
    Ok(out)
}

/// 5.0 PUBLISH properties given to `publish`.
pub fn publish_properties(p: &JsValue) -> Result<PublishProperties, JsValue> {
    if !p.is_object() {
        return Ok(PublishProperties::default());
    }
    Ok(PublishProperties {
        payload_format_indicator: opt_bool(p, "payloadFormatIndicator")?,
        message_expiry_interval: opt_u32(p, "messageExpiryInterval")?,
        topic_alias: opt_u16(p, "topicAlias")?,
        response_topic: opt_string(p, "responseTopic")?,
        correlation_data: opt_bytes(p, "correlationData")?.map(Into::into),
        user_properties: user_properties(p)?,
        subscription_identifiers: Vec::new(),
        content_type: opt_string(p, "contentType")?,
    })
}

/// One entry of `subscribe`'s list: `{ topic, qos, noLocal, retainAsPublished, retainHandling }`.
pub fn subscribe_filter(f: &JsValue) -> Result<SubscribeFilter, JsValue> {
    let filter = opt_string(f, "topic")?.ok_or_else(|| invalid("topic", "is required"))?;
    let retain_handling = match opt_uint(f, "retainHandling", 2.0)? {
        None | Some(0.0) => RetainHandling::SendAtSubscribe,
        Some(1.0) => RetainHandling::SendIfNew,
        _ => RetainHandling::DoNotSend,
    };
    Ok(SubscribeFilter {
        filter,
        options: SubscriptionOptions {
            qos: qos_of(opt_uint(f, "qos", 2.0)?, "qos")?,
            no_local: opt_bool(f, "noLocal")?.unwrap_or(false),
            retain_as_published: opt_bool(f, "retainAsPublished")?.unwrap_or(false),
            retain_handling,
        },
    })
}

pub fn subscription_identifier(p: &JsValue) -> Result<Option<u32>, JsValue> {
    opt_u32(p, "subscriptionIdentifier")
}

pub fn props_user(p: &JsValue) -> Result<Vec<UserProperty>, JsValue> {
    user_properties(p)
}

pub fn disconnect_properties(p: &JsValue) -> Result<DisconnectProperties, JsValue> {
    Ok(DisconnectProperties {
        session_expiry_interval: opt_u32(p, "sessionExpiryInterval")?,
        reason_string: opt_string(p, "reasonString")?,
        user_properties: user_properties(p)?,
        server_reference: None,
    })
}

/// `connect`'s options (camelCase, mirroring the Python binding's names).
pub fn client_options(url: &str, o: &JsValue) -> Result<ClientOptions, JsValue> {
    let mut opts = ClientOptions::new(url).map_err(|e| client_error(&e))?;
    if let Some(Some(list)) = get(o, "servers").map(|v| v.dyn_into::<Array>().ok()) {
        for item in list.iter() {
            let s = item
                .as_string()
                .ok_or_else(|| invalid("servers", "must be an array of URL strings"))?;
            let server = s
                .parse()
                .map_err(|e: midge_core::server::ServerAddressError| {
                    invalid("servers", &e.to_string())
                })?;
            opts.servers.push(server);
        }
    } else if get(o, "servers").is_some() {
        return Err(invalid("servers", "must be an array of URL strings"));
    }
    for s in &opts.servers {
        if !s.transport.is_websocket() {
            return Err(invalid(
                "url",
                "must be ws:// or wss:// (a browser can only open WebSockets)",
            ));
        }
    }
    if let Some(id) = opt_string(o, "clientId")? {
        opts.client_id = id;
    }
    match opt_uint(o, "protocolVersion", 5.0)? {
        None | Some(5.0) => opts.protocol = ProtocolVersion::V5,
        Some(4.0) => opts.protocol = ProtocolVersion::V311,
        _ => return Err(invalid("protocolVersion", "must be 4 (3.1.1) or 5 (5.0)")),
    }
    if let Some(clean) = opt_bool(o, "clean")? {
        opts.clean_start = clean;
    }
    if let Some(k) = opt_u16(o, "keepalive")? {
        opts.keep_alive_secs = k;
    }
    opts.username = opt_string(o, "username")?;
    opts.password = opt_bytes(o, "password")?.map(Into::into);
    if let Some(w) = get(o, "will") {
        let topic = opt_string(&w, "topic")?.ok_or_else(|| invalid("will.topic", "is required"))?;
        let wp = get(&w, "properties").unwrap_or(JsValue::UNDEFINED);
        opts.will = Some(LastWill {
            topic,
            payload: opt_bytes(&w, "payload")?.unwrap_or_default().into(),
            qos: qos_of(opt_uint(&w, "qos", 2.0)?, "will.qos")?,
            retain: opt_bool(&w, "retain")?.unwrap_or(false),
            properties: WillProperties {
                will_delay_interval: opt_u32(&wp, "willDelayInterval")?,
                payload_format_indicator: opt_bool(&wp, "payloadFormatIndicator")?,
                message_expiry_interval: opt_u32(&wp, "messageExpiryInterval")?,
                content_type: opt_string(&wp, "contentType")?,
                response_topic: opt_string(&wp, "responseTopic")?,
                correlation_data: opt_bytes(&wp, "correlationData")?.map(Into::into),
                user_properties: user_properties(&wp)?,
            },
        });
    }
    match get(o, "reconnect") {
        None => {}
        Some(v) if v.as_bool() == Some(false) => opts.reconnect = None,
        Some(v) if v.as_bool() == Some(true) => {}
        Some(r) => {
            let d = BackoffPolicy::default();
            opts.reconnect = Some(BackoffPolicy {
                min_delay_ms: opt_uint(&r, "minDelay", 9e15)?.map_or(d.min_delay_ms, |n| n as u64),
                max_delay_ms: opt_uint(&r, "maxDelay", 9e15)?.map_or(d.max_delay_ms, |n| n as u64),
                factor: opt_uint(&r, "factor", 1e6)?.unwrap_or(d.factor),
                stable_after_ms: opt_uint(&r, "stableAfter", 9e15)?
                    .map_or(d.stable_after_ms, |n| n as u64),
            });
            if let Some(initial) = opt_bool(&r, "onInitialFailure")? {
                opts.reconnect_on_initial_failure = initial;
            }
        }
    }
    if let Some(n) = opt_uint(o, "offlineQueueLimit", 1e9)? {
        opts.max_queued_messages = n as usize;
    }
    if let Some(n) = opt_u16(o, "maxInflight")? {
        opts.max_inflight = n;
    }
    if let Some(n) = opt_uint(o, "connectTimeout", 9e15)? {
        opts.connect_timeout_ms = n as u64;
    }
    if let Some(n) = opt_uint(o, "pingTimeout", 9e15)? {
        opts.ping_timeout_ms = n as u64;
    }
    if let Some(p) = get(o, "properties") {
        opts.connect_properties = ConnectProperties {
            session_expiry_interval: opt_u32(&p, "sessionExpiryInterval")?,
            receive_maximum: opt_u16(&p, "receiveMaximum")?,
            maximum_packet_size: opt_u32(&p, "maximumPacketSize")?,
            topic_alias_maximum: opt_u16(&p, "topicAliasMaximum")?,
            request_response_information: opt_bool(&p, "requestResponseInformation")?,
            request_problem_information: opt_bool(&p, "requestProblemInformation")?,
            user_properties: user_properties(&p)?,
            authentication_method: opt_string(&p, "authenticationMethod")?,
            authentication_data: opt_bytes(&p, "authenticationData")?.map(Into::into),
        };
    }
    opts.random_seed = (js_sys::Math::random() * 9e15) as u64;
    opts.validate().map_err(|e| client_error(&e))?;
    Ok(opts)
}

// ---------------------------------------------------------------------------
// Writing JS objects

fn obj() -> JsValue {
    Object::new().into()
}

fn put_str(o: &JsValue, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        set(o, key, &JsValue::from_str(v));
    }
}

fn put_num(o: &JsValue, key: &str, v: Option<f64>) {
    if let Some(v) = v {
        set(o, key, &JsValue::from_f64(v));
    }
}

fn put_bool(o: &JsValue, key: &str, v: Option<bool>) {
    if let Some(v) = v {
        set(o, key, &JsValue::from_bool(v));
    }
}

fn put_user(o: &JsValue, props: &[UserProperty]) {
    if props.is_empty() {
        return;
    }
    let list = Array::new();
    for (k, v) in props {
        list.push(&Array::of2(&JsValue::from_str(k), &JsValue::from_str(v)));
    }
    set(o, "userProperties", &list);
}

/// Inbound PUBLISH properties; `undefined` when there are none.
pub fn publish_properties_js(p: &PublishProperties) -> JsValue {
    if *p == PublishProperties::default() {
        return JsValue::UNDEFINED;
    }
    let o = obj();
    put_bool(&o, "payloadFormatIndicator", p.payload_format_indicator);
    put_num(
        &o,
        "messageExpiryInterval",
        p.message_expiry_interval.map(f64::from),
    );
    put_num(&o, "topicAlias", p.topic_alias.map(f64::from));
    put_str(&o, "responseTopic", &p.response_topic);
    if let Some(c) = &p.correlation_data {
        set(&o, "correlationData", &Uint8Array::from(&c[..]));
    }
    put_user(&o, &p.user_properties);
    if !p.subscription_identifiers.is_empty() {
        let ids = Array::new();
        for id in &p.subscription_identifiers {
            ids.push(&JsValue::from(*id));
        }
        set(&o, "subscriptionIdentifiers", &ids);
    }
    put_str(&o, "contentType", &p.content_type);
    o
}

/// SUBACK / UNSUBACK / PUBACK properties; `undefined` when empty.
pub fn ack_properties_js(p: &AckProperties) -> JsValue {
    if p.is_empty() {
        return JsValue::UNDEFINED;
    }
    let o = obj();
    put_str(&o, "reasonString", &p.reason_string);
    put_user(&o, &p.user_properties);
    o
}

pub fn connack_properties_js(p: &ConnAckProperties) -> JsValue {
    let o = obj();
    put_num(
        &o,
        "sessionExpiryInterval",
        p.session_expiry_interval.map(f64::from),
    );
    put_num(&o, "receiveMaximum", p.receive_maximum.map(f64::from));
    put_num(&o, "maximumQoS", p.maximum_qos.map(|q| q as u8 as f64));
    put_bool(&o, "retainAvailable", p.retain_available);
    put_num(
        &o,
        "maximumPacketSize",
        p.maximum_packet_size.map(f64::from),
    );
    put_str(
        &o,
        "assignedClientIdentifier",
        &p.assigned_client_identifier,
    );
    put_num(
        &o,
        "topicAliasMaximum",
        p.topic_alias_maximum.map(f64::from),
    );
    put_str(&o, "reasonString", &p.reason_string);
    put_user(&o, &p.user_properties);
    put_bool(
        &o,
        "wildcardSubscriptionAvailable",
        p.wildcard_subscription_available,
    );
    put_bool(
        &o,
        "subscriptionIdentifiersAvailable",
        p.subscription_identifiers_available,
    );
    put_bool(
        &o,
        "sharedSubscriptionAvailable",
        p.shared_subscription_available,
    );
    put_num(&o, "serverKeepAlive", p.server_keep_alive.map(f64::from));
    put_str(&o, "responseInformation", &p.response_information);
    put_str(&o, "serverReference", &p.server_reference);
    o
}

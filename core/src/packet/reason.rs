//! MQTT 5.0 reason codes (specification section 2.4), with the 3.1.1 return
//! codes mapped onto them.

/// One MQTT 5.0 reason code. Values that mean different things in different
/// packets (0x00 is "Success", "Normal disconnection" and "Granted QoS 0")
/// share one variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[repr(u8)]
pub enum ReasonCode {
    /// Success / Normal disconnection / Granted QoS 0.
    #[default]
    Success = 0x00,
    /// 0x01: Subscription accepted with maximum QoS 1.
    GrantedQoS1 = 0x01,
    /// 0x02: Subscription accepted with maximum QoS 2.
    GrantedQoS2 = 0x02,
    /// 0x04: The client disconnects but wants its Last Will published.
    DisconnectWithWillMessage = 0x04,
    /// 0x10: Publish accepted, but no subscriber matched its topic.
    NoMatchingSubscribers = 0x10,
    /// 0x11: Unsubscribe of a filter that had no subscription.
    NoSubscriptionExisted = 0x11,
    /// 0x18: Enhanced authentication goes on: answer with AUTH.
    ContinueAuthentication = 0x18,
    /// 0x19: The client starts a re-authentication.
    ReAuthenticate = 0x19,
    /// 0x80: Failure the sender does not want to name.
    UnspecifiedError = 0x80,
    /// 0x81: A packet could not be decoded.
    MalformedPacket = 0x81,
    /// 0x82: A packet broke the protocol (sequence, flags, duplicates).
    ProtocolError = 0x82,
    /// 0x83: Valid, but refused by this implementation.
    ImplementationSpecificError = 0x83,
    /// 0x84: The server does not speak the requested protocol version.
    UnsupportedProtocolVersion = 0x84,
    /// 0x85: The client id is not allowed by the server.
    ClientIdentifierNotValid = 0x85,
    /// 0x86: The user name or password was not accepted.
    BadUserNameOrPassword = 0x86,
    /// 0x87: The client may not do this (connect, publish or subscribe).
    NotAuthorized = 0x87,
    /// 0x88: The server is not available.
    ServerUnavailable = 0x88,
    /// 0x89: The server is busy; try later.
    ServerBusy = 0x89,
    /// 0x8A: The client is banned by administrative action.
    Banned = 0x8A,
    /// 0x8B: The server is shutting down.
    ServerShuttingDown = 0x8B,
    /// 0x8C: The authentication method is not supported or does not match.
    BadAuthenticationMethod = 0x8C,
    /// 0x8D: No packet arrived within 1.5 times the keep-alive.
    KeepAliveTimeout = 0x8D,
    /// 0x8E: Another connection with the same client id took the session.
    SessionTakenOver = 0x8E,
    /// 0x8F: The topic filter is well formed but not accepted by the server.
    TopicFilterInvalid = 0x8F,
    /// 0x90: The topic name is well formed but not accepted.
    TopicNameInvalid = 0x90,
    /// 0x91: The packet id is already in use.
    PacketIdentifierInUse = 0x91,
    /// 0x92: The packet id is not known (e.g. PUBREL without PUBREC).
    PacketIdentifierNotFound = 0x92,
    /// 0x93: More QoS 1/2 publishes in flight than the Receive Maximum allows.
    ReceiveMaximumExceeded = 0x93,
    /// 0x94: The topic alias is 0 or above the receiver's maximum.
    TopicAliasInvalid = 0x94,
    /// 0x95: The packet exceeds the Maximum Packet Size.
    PacketTooLarge = 0x95,
    /// 0x96: The message rate is above the server's limit.
    MessageRateTooHigh = 0x96,
    /// 0x97: An implementation or administrative quota was exceeded.
    QuotaExceeded = 0x97,
    /// 0x98: The connection was closed by administrative action.
    AdministrativeAction = 0x98,
    /// 0x99: The payload does not match its Payload Format Indicator.
    PayloadFormatInvalid = 0x99,
    /// 0x9A: The server does not support retained messages.
    RetainNotSupported = 0x9A,
    /// 0x9B: The QoS is above the server's Maximum QoS.
    QoSNotSupported = 0x9B,
    /// 0x9C: Connect to another server (temporarily); see Server Reference.
    UseAnotherServer = 0x9C,
    /// 0x9D: Connect to another server from now on; see Server Reference.
    ServerMoved = 0x9D,
    /// 0x9E: The server does not support shared subscriptions.
    SharedSubscriptionsNotSupported = 0x9E,
    /// 0x9F: Connection attempts came too fast.
    ConnectionRateExceeded = 0x9F,
    /// 0xA0: The connection reached its maximum allowed time.
    MaximumConnectTime = 0xA0,
    /// 0xA1: The server does not support subscription identifiers.
    SubscriptionIdentifiersNotSupported = 0xA1,
    /// 0xA2: The server does not support wildcard filters.
    WildcardSubscriptionsNotSupported = 0xA2,
}

impl ReasonCode {
    /// Every reason code, in numeric order.
    pub const ALL: [ReasonCode; 43] = [
        ReasonCode::Success,
        ReasonCode::GrantedQoS1,
        ReasonCode::GrantedQoS2,
        ReasonCode::DisconnectWithWillMessage,
        ReasonCode::NoMatchingSubscribers,
        ReasonCode::NoSubscriptionExisted,
        ReasonCode::ContinueAuthentication,
        ReasonCode::ReAuthenticate,
        ReasonCode::UnspecifiedError,
        ReasonCode::MalformedPacket,
        ReasonCode::ProtocolError,
        ReasonCode::ImplementationSpecificError,
        ReasonCode::UnsupportedProtocolVersion,
        ReasonCode::ClientIdentifierNotValid,
        ReasonCode::BadUserNameOrPassword,
        ReasonCode::NotAuthorized,
        ReasonCode::ServerUnavailable,
        ReasonCode::ServerBusy,
        ReasonCode::Banned,
        ReasonCode::ServerShuttingDown,
        ReasonCode::BadAuthenticationMethod,
        ReasonCode::KeepAliveTimeout,
        ReasonCode::SessionTakenOver,
        ReasonCode::TopicFilterInvalid,
        ReasonCode::TopicNameInvalid,
        ReasonCode::PacketIdentifierInUse,
        ReasonCode::PacketIdentifierNotFound,
        ReasonCode::ReceiveMaximumExceeded,
        ReasonCode::TopicAliasInvalid,
        ReasonCode::PacketTooLarge,
        ReasonCode::MessageRateTooHigh,
        ReasonCode::QuotaExceeded,
        ReasonCode::AdministrativeAction,
        ReasonCode::PayloadFormatInvalid,
        ReasonCode::RetainNotSupported,
        ReasonCode::QoSNotSupported,
        ReasonCode::UseAnotherServer,
        ReasonCode::ServerMoved,
        ReasonCode::SharedSubscriptionsNotSupported,
        ReasonCode::ConnectionRateExceeded,
        ReasonCode::MaximumConnectTime,
        ReasonCode::SubscriptionIdentifiersNotSupported,
        ReasonCode::WildcardSubscriptionsNotSupported,
    ];

    /// The variant's name, as `Debug` prints it (`"NotAuthorized"`): written
    /// out so that builds whose `Debug` prints nothing (the npm package's)
    /// still name the code in errors and trace lines.
    pub fn name(self) -> &'static str {
        match self {
            ReasonCode::Success => "Success",
            ReasonCode::GrantedQoS1 => "GrantedQoS1",
            ReasonCode::GrantedQoS2 => "GrantedQoS2",
            ReasonCode::DisconnectWithWillMessage => "DisconnectWithWillMessage",
            ReasonCode::NoMatchingSubscribers => "NoMatchingSubscribers",
            ReasonCode::NoSubscriptionExisted => "NoSubscriptionExisted",
            ReasonCode::ContinueAuthentication => "ContinueAuthentication",
            ReasonCode::ReAuthenticate => "ReAuthenticate",
            ReasonCode::UnspecifiedError => "UnspecifiedError",
            ReasonCode::MalformedPacket => "MalformedPacket",
            ReasonCode::ProtocolError => "ProtocolError",
            ReasonCode::ImplementationSpecificError => "ImplementationSpecificError",
            ReasonCode::UnsupportedProtocolVersion => "UnsupportedProtocolVersion",
            ReasonCode::ClientIdentifierNotValid => "ClientIdentifierNotValid",
            ReasonCode::BadUserNameOrPassword => "BadUserNameOrPassword",
            ReasonCode::NotAuthorized => "NotAuthorized",
            ReasonCode::ServerUnavailable => "ServerUnavailable",
            ReasonCode::ServerBusy => "ServerBusy",
            ReasonCode::Banned => "Banned",
            ReasonCode::ServerShuttingDown => "ServerShuttingDown",
            ReasonCode::BadAuthenticationMethod => "BadAuthenticationMethod",
            ReasonCode::KeepAliveTimeout => "KeepAliveTimeout",
            ReasonCode::SessionTakenOver => "SessionTakenOver",
            ReasonCode::TopicFilterInvalid => "TopicFilterInvalid",
            ReasonCode::TopicNameInvalid => "TopicNameInvalid",
            ReasonCode::PacketIdentifierInUse => "PacketIdentifierInUse",
            ReasonCode::PacketIdentifierNotFound => "PacketIdentifierNotFound",
            ReasonCode::ReceiveMaximumExceeded => "ReceiveMaximumExceeded",
            ReasonCode::TopicAliasInvalid => "TopicAliasInvalid",
            ReasonCode::PacketTooLarge => "PacketTooLarge",
            ReasonCode::MessageRateTooHigh => "MessageRateTooHigh",
            ReasonCode::QuotaExceeded => "QuotaExceeded",
            ReasonCode::AdministrativeAction => "AdministrativeAction",
            ReasonCode::PayloadFormatInvalid => "PayloadFormatInvalid",
            ReasonCode::RetainNotSupported => "RetainNotSupported",
            ReasonCode::QoSNotSupported => "QoSNotSupported",
            ReasonCode::UseAnotherServer => "UseAnotherServer",
            ReasonCode::ServerMoved => "ServerMoved",
            ReasonCode::SharedSubscriptionsNotSupported => "SharedSubscriptionsNotSupported",
            ReasonCode::ConnectionRateExceeded => "ConnectionRateExceeded",
            ReasonCode::MaximumConnectTime => "MaximumConnectTime",
            ReasonCode::SubscriptionIdentifiersNotSupported => {
                "SubscriptionIdentifiersNotSupported"
            }
            ReasonCode::WildcardSubscriptionsNotSupported => "WildcardSubscriptionsNotSupported",
        }
    }

    /// `Name (0xNN)`, as `Display` prints it, without `core::fmt`.
    ///
    /// ```
    /// use midge_core::packet::ReasonCode;
    /// assert_eq!(ReasonCode::NotAuthorized.describe(), "NotAuthorized (0x87)");
    /// ```
    pub fn describe(self) -> String {
        crate::text::cat(&[self.name(), " (0x", &crate::text::hex(self.code()), ")"])
    }

    /// The wire value.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The reason code for a wire value, if the specification defines it.
    pub fn from_u8(value: u8) -> Option<ReasonCode> {
        // ALL is sorted by value, so a binary search finds it.
        ReasonCode::ALL
            .binary_search_by_key(&value, |code| *code as u8)
            .ok()
            .map(|index| ReasonCode::ALL[index])
    }

    /// True for failure codes (0x80 and above).
    pub fn is_error(self) -> bool {
        (self as u8) >= 0x80
    }

    /// The 5.0 reason code equivalent to a 3.1.1 CONNACK return code.
    pub fn from_v311_connack(return_code: u8) -> Option<ReasonCode> {
        Some(match return_code {
            0 => ReasonCode::Success,
            1 => ReasonCode::UnsupportedProtocolVersion,
            2 => ReasonCode::ClientIdentifierNotValid,
            3 => ReasonCode::ServerUnavailable,
            4 => ReasonCode::BadUserNameOrPassword,
            5 => ReasonCode::NotAuthorized,
            _ => return None,
        })
    }

    /// The 3.1.1 CONNACK return code closest to this reason code.
    pub fn to_v311_connack(self) -> u8 {
        match self {
            ReasonCode::Success => 0,
            ReasonCode::UnsupportedProtocolVersion => 1,
            ReasonCode::ClientIdentifierNotValid => 2,
            ReasonCode::BadUserNameOrPassword | ReasonCode::BadAuthenticationMethod => 4,
            ReasonCode::NotAuthorized | ReasonCode::Banned => 5,
            _ => 3,
        }
    }

    /// The 5.0 reason code for a 3.1.1 SUBACK return code (0, 1, 2 or 0x80).
    pub fn from_v311_suback(return_code: u8) -> Option<ReasonCode> {
        Some(match return_code {
            0 => ReasonCode::Success,
            1 => ReasonCode::GrantedQoS1,
            2 => ReasonCode::GrantedQoS2,
            0x80 => ReasonCode::UnspecifiedError,
            _ => return None,
        })
    }

    /// The 3.1.1 SUBACK return code: the granted QoS, or 0x80 for any failure.
    pub fn to_v311_suback(self) -> u8 {
        match self {
            ReasonCode::Success => 0,
            ReasonCode::GrantedQoS1 => 1,
            ReasonCode::GrantedQoS2 => 2,
            _ => 0x80,
        }
    }

    /// The SUBACK reason code that grants `qos`: the inverse of
    /// [`granted_qos`](Self::granted_qos).
    ///
    /// ```
    /// use midge_core::packet::{QoS, ReasonCode};
    ///
    /// assert_eq!(ReasonCode::granted(QoS::AtLeastOnce), ReasonCode::GrantedQoS1);
    /// assert_eq!(ReasonCode::granted(QoS::ExactlyOnce).granted_qos(), Some(QoS::ExactlyOnce));
    /// ```
    pub fn granted(qos: super::QoS) -> ReasonCode {
        match qos {
            super::QoS::AtMostOnce => ReasonCode::Success,
            super::QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
            super::QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
        }
    }

    /// The QoS granted by a SUBACK reason code, or `None` for a failure.
    pub fn granted_qos(self) -> Option<super::QoS> {
        match self {
            ReasonCode::Success => Some(super::QoS::AtMostOnce),
            ReasonCode::GrantedQoS1 => Some(super::QoS::AtLeastOnce),
            ReasonCode::GrantedQoS2 => Some(super::QoS::ExactlyOnce),
            _ => None,
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As `write!(f, "{:?} (0x{:02X})", ..)`, without `core::fmt::write`
        // and hex printing in the browser package.
        const HEX: [&str; 16] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F",
        ];
        let code = usize::from(*self as u8);
        f.write_str(self.name())?;
        f.write_str(" (0x")?;
        f.write_str(HEX[code >> 4])?;
        f.write_str(HEX[code & 15])?;
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_debug() {
        for code in ReasonCode::ALL {
            assert_eq!(code.name(), format!("{code:?}"));
        }
    }

    #[test]
    fn from_u8_round_trips_every_code() {
        for code in ReasonCode::ALL {
            assert_eq!(ReasonCode::from_u8(code.code()), Some(code));
        }
        assert_eq!(ReasonCode::from_u8(0x03), None);
        assert_eq!(ReasonCode::from_u8(0xFF), None);
    }

    #[test]
    fn v311_codes_map_both_ways() {
        for rc in 0..=5u8 {
            let code = ReasonCode::from_v311_connack(rc).unwrap();
            assert_eq!(code.to_v311_connack(), rc);
        }
        assert_eq!(ReasonCode::from_v311_connack(6), None);
        for rc in [0u8, 1, 2, 0x80] {
            assert_eq!(
                ReasonCode::from_v311_suback(rc).unwrap().to_v311_suback(),
                rc
            );
        }
    }
}

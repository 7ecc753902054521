// swift-tools-version:5.9
// midge for Swift (iOS 13+, macOS 11+): the UniFFI-generated sources
// (Sources/Midge/Midge.swift, made by ../generate.sh) plus a hand-written
// AsyncStream layer, over the Rust library packed as MidgeFFI.xcframework
// by build-xcframework.sh (needs macOS with Xcode).
//
// Not compiled on the Linux machines this repository is developed on: there
// is no Swift compiler there. See bindings-uniffi/README.md.
import PackageDescription

let package = Package(
    name: "Midge",
    platforms: [.iOS(.v13), .macOS(.v11)],
    products: [
        .library(name: "Midge", targets: ["Midge"]),
    ],
    targets: [
        // libmidge_uniffi.a per platform, with Headers/MidgeFFI.h and its module map.
        .binaryTarget(name: "MidgeFFI", path: "MidgeFFI.xcframework"),
        .target(
            name: "Midge",
            dependencies: ["MidgeFFI"],
            path: "Sources/Midge",
            // The Rust code uses these system frameworks (TLS roots, networking).
            linkerSettings: [
                .linkedFramework("Security"),
                .linkedFramework("SystemConfiguration"),
            ]
        ),
    ]
)

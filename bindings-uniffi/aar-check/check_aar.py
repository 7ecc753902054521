#!/usr/bin/env python3
"""Checks an AAR made by bindings-uniffi/build-aar.sh the way Android reads it.

    check_aar.py AAR [--min-sdk N]

- the zip's entries are exactly AndroidManifest.xml, classes.jar, R.txt,
  proguard.txt and jni/{arm64-v8a,armeabi-v7a,x86_64}/libmidge_uniffi.so
  (no directory entries, nothing else);
- the manifest is XML: <manifest package="io.midge.mqtt"> with
  <uses-sdk android:minSdkVersion="N">;
- classes.jar holds the io/midge/mqtt classes (the generated MqttClient and
  Flows.kt's FlowsKt) and no native library or linux-*/darwin-*/win32-*
  folder (an Android app loads the library from jni/<abi>/);
- each jni/ entry is an ELF shared object; R.txt is empty; proguard.txt keeps
  JNA's classes.

It does not check that the libraries are built for their ABI: the test run
packs host stand-ins (this machine has no Android NDK), so it checks the
packaging only.
"""

import argparse
import io
import sys
import xml.etree.ElementTree as ET
import zipfile

ABIS = ("arm64-v8a", "armeabi-v7a", "x86_64")
ANDROID_NS = "{http://schemas.android.com/apk/res/android}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("aar")
    parser.add_argument("--min-sdk", default="24")
    args = parser.parse_args()
    problems = []

    with zipfile.ZipFile(args.aar) as aar:
        names = aar.namelist()
        expected = {"AndroidManifest.xml", "classes.jar", "R.txt", "proguard.txt"}
        expected |= {f"jni/{abi}/libmidge_uniffi.so" for abi in ABIS}
        if len(names) != len(set(names)):
            problems.append(f"duplicate entries: {sorted(names)}")
        if set(names) != expected:
            problems.append(
                f"entries: missing {sorted(expected - set(names))}, unexpected {sorted(set(names) - expected)}"
            )

        if "AndroidManifest.xml" in names:
            manifest = ET.fromstring(aar.read("AndroidManifest.xml"))
            if manifest.tag != "manifest" or manifest.get("package") != "io.midge.mqtt":
                problems.append(f"manifest root: <{manifest.tag} package={manifest.get('package')!r}>")
            sdk = manifest.find("uses-sdk")
            min_sdk = None if sdk is None else sdk.get(ANDROID_NS + "minSdkVersion")
            if min_sdk != args.min_sdk:
                problems.append(f"manifest minSdkVersion {min_sdk!r}, expected {args.min_sdk!r}")

        if "classes.jar" in names:
            with zipfile.ZipFile(io.BytesIO(aar.read("classes.jar"))) as jar:
                classes = jar.namelist()
            for wanted in ("io/midge/mqtt/MqttClient.class", "io/midge/mqtt/FlowsKt.class"):
                if wanted not in classes:
                    problems.append(f"classes.jar has no {wanted}")
            natives = [
                n for n in classes
                if n.startswith(("linux-", "darwin-", "win32-", "android-")) or n.endswith((".so", ".dylib", ".dll"))
            ]
            if natives:
                problems.append(f"classes.jar carries native files: {natives[:5]}")
            mqtt_classes = sum(1 for n in classes if n.startswith("io/midge/mqtt/") and n.endswith(".class"))
        else:
            mqtt_classes = 0

        for abi in ABIS:
            name = f"jni/{abi}/libmidge_uniffi.so"
            if name in names:
                with aar.open(name) as lib:
                    header = lib.read(18)
                # ELF magic, and e_type 3 (ET_DYN) little-endian at offset 16.
                if header[:4] != b"\x7fELF" or header[16:18] != b"\x03\x00":
                    problems.append(f"{name} is not an ELF shared object")

        if "R.txt" in names and aar.read("R.txt"):
            problems.append("R.txt is not empty")
        if "proguard.txt" in names and b"-keep class com.sun.jna.** { *; }" not in aar.read("proguard.txt"):
            problems.append("proguard.txt does not keep com.sun.jna")

    if problems:
        for problem in problems:
            print(f"FAIL: {args.aar}: {problem}", file=sys.stderr)
        return 1
    print(
        f"ok: {args.aar}: {len(names)} entries as Android expects, manifest io.midge.mqtt minSdk {args.min_sdk}, "
        f"classes.jar with {mqtt_classes} io/midge/mqtt classes and no native folders, "
        f"jni/{{{','.join(ABIS)}}}/libmidge_uniffi.so (their ABIs not checked here)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

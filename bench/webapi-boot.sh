#!/usr/bin/env bash
# make soak: rtm.start of a 100,000-user team while other clients' calls
# are answered first (the make test run uses a few thousand users).
set -u
cd "$(dirname "$0")/.."
PARLEY_BOOT_USERS=${PARLEY_BOOT_USERS:-100000} \
    node --test --test-reporter=spec \
    --test-name-pattern='large rtm.start' \
    tests/integration/webapi-pages.test.mjs

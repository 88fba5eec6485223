# Thin wrapper around CMake. `make test` on a fresh Debian 12 machine installs
# what is missing, builds, starts throwaway servers and runs every test.
JOBS       ?= $(shell nproc)
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20

.PHONY: all deps build build-asan test test-unit test-asan dev fuzz bench clean format

all: build

deps:
	@scripts/install-deps

$(BUILD)/Makefile: deps CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSY_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Everything: the full suite (unit + integration, real servers) on the normal
# build, then all of it again under ASan + UBSan (leaks included), with the
# fuzz seed corpora.
test: build build-asan
	$(BUILD)/switchyard testenv -- ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	$(ASAN_BUILD)/switchyard testenv -- ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) -L unit

dev: build
	$(BUILD)/switchyard dev

bench: build
	$(BUILD)/switchyard bench envelope

# libFuzzer targets built with clang, each run for FUZZ_SECONDS.
fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSY_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@set -e; for t in $(FUZZ_BUILD)/tests/fuzz/fuzz_*; do \
	  n=$$(basename $$t); mkdir -p tests/fuzz/corpus-$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 tests/fuzz/corpus-$$n tests/fuzz/seeds/$${n#fuzz_}; \
	done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

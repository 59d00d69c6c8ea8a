#!/usr/bin/env bash
# Bad input everywhere: every command with missing, malformed, out-of-range
# and conflicting option values, unknown data specs, missing files and
# files of the wrong kind. Each case must end with the documented exit
# status (2 for bad usage or input) and a one-line "kdcl: error: ..."
# message that names the problem -- never a crash, an assertion, a
# sanitizer report or a hang.
#
# usage: cli_bad_input.sh KDCL_BINARY
set -u
bin=${1:?usage: cli_bad_input.sh KDCL_BINARY}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/kdcl-bad-input.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 1

cases=0
failures=0

fail() {
  failures=$((failures + 1))
  echo "FAIL [$cases] $*" >&2
}

# run CODE PATTERN ARGS...: kdcl ARGS must exit with CODE, print an error
# line matching the extended regex PATTERN (case-insensitive) on stderr
# when CODE != 0, and show no sign of a crash.
run() {
  local want=$1 pattern=$2
  shift 2
  cases=$((cases + 1))
  timeout 120 "$bin" "$@" > out.txt 2> err.txt < /dev/null
  local rc=$?
  # Under the sanitizer build LeakSanitizer's own tracer sometimes crashes
  # at exit while POCL's threads are live (google/sanitizers#1353): the
  # sanitizer runtime failing, not kdcl. Only then is the case run again.
  if grep -q "Tracer caught signal" err.txt && grep -q "LeakSanitizer has encountered a fatal error" err.txt; then
    echo "note [$cases]: LeakSanitizer's tracer crashed at exit; running the case again" >&2
    timeout 120 "$bin" "$@" > out.txt 2> err.txt < /dev/null
    rc=$?
  fi
  if grep -qiE "internal error|assertion|AddressSanitizer|runtime error:|Segmentation|core dumped|Aborted|stack" \
      out.txt err.txt; then
    fail "kdcl $*: crash signs:"; cat err.txt >&2
  fi
  if [ "$rc" -ne "$want" ]; then
    fail "kdcl $*: exit $rc, expected $want"; tail -5 err.txt >&2
    return
  fi
  if [ "$want" -ne 0 ]; then
    if ! grep -q "^kdcl: error: " err.txt; then
      fail "kdcl $*: no 'kdcl: error:' line on stderr"; tail -5 err.txt >&2
    elif ! grep -qiE -- "$pattern" err.txt; then
      fail "kdcl $*: message does not match /$pattern/:"; cat err.txt >&2
    fi
  fi
}
bad() { run 2 "$@"; }

# ---- fixtures ----
# A 1x1 PNG and a tiny JPEG header (truncated), a text file, an empty file.
base64 -d > pic.png <<'EOF'
iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==
EOF
printf '\xff\xd8\xff\xe0\x00\x10JFIF' > cut.jpg
echo "hello, I am not a model" > notes.txt
: > empty.safetensors
mkdir -p adir emptydir
# A real model (1x8x8 input, 10 classes) and its checkpoint.
common_train=(--data synthetic:64:1x8x8 --epochs 1 --batch 16 --no-test --quiet)
if ! "$bin" train --model conv2x3,gap "${common_train[@]}" --out m.safetensors > train.log 2>&1; then
  echo "cannot train the fixture model:" >&2; cat train.log >&2; exit 1
fi
# The same on 3-channel images (a teacher that fits 3x8x8 data).
if ! "$bin" train --model conv2x3,gap --data synthetic:64:3x8x8 --epochs 1 --batch 16 --no-test --quiet --out m3.safetensors > train.log 2>&1; then
  echo "cannot train the 3-channel fixture model:" >&2; cat train.log >&2; exit 1
fi
# Damaged copies: cut short, and the header's length prefix overwritten.
head -c 100 m.safetensors > cut.safetensors
{ printf '\xff\xff\xff\xff\xff\xff\xff\x7f'; tail -c +9 m.safetensors; } > hugelen.safetensors
# Foreign weights: a valid safetensors file without kdcl metadata.
python_free_st() { # name dtype shape-json data-bytes
  local hdr="{\"$1\":{\"dtype\":\"$2\",\"shape\":$3,\"data_offsets\":[0,$4]}}"
  local n=${#hdr}
  printf "$(printf '\\x%02x\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00' $((n & 255)) $((n >> 8)))"
  printf '%s' "$hdr"
  head -c "$4" /dev/zero
}
python_free_st conv1.weight F32 '[4,3,3,3]' 432 > foreign.safetensors
python_free_st 0.weight F32 '[7,1,3,3]' 252 > wrongshape.safetensors
# Data directories: CIFAR with a cut record, with a bad label; IDX with a
# wrong magic, with counts that disagree, and with corrupt gzip.
mkdir -p cifar_cut cifar_label fm_magic fm_count fm_gz
for i in 1 2 3 4 5; do head -c 3073 /dev/zero > "cifar_cut/data_batch_$i.bin"; done
head -c 3000 /dev/zero > cifar_cut/data_batch_3.bin
cp cifar_cut/data_batch_1.bin cifar_cut/test_batch.bin
for i in 1 2 3 4 5; do { printf '\x0c'; head -c 3072 /dev/zero; } > "cifar_label/data_batch_$i.bin"; done
idx_images() { printf '\x00\x00\x08\x03\x00\x00\x00'"$1"'\x00\x00\x00\x04\x00\x00\x00\x04'; head -c $((16 * $2)) /dev/zero; }
idx_labels() { printf '\x00\x00\x08\x01\x00\x00\x00'"$1"; head -c "$2" /dev/zero; }
idx_images '\x02' 2 > fm_count/train-images-idx3-ubyte
idx_labels '\x03' 3 > fm_count/train-labels-idx1-ubyte
idx_labels '\x02' 2 > fm_magic/train-images-idx3-ubyte
idx_labels '\x02' 2 > fm_magic/train-labels-idx1-ubyte
idx_images '\x02' 2 | gzip -c | head -c 30 > fm_gz/train-images-idx3-ubyte.gz
idx_labels '\x02' 2 | gzip -c > fm_gz/train-labels-idx1-ubyte.gz

tr=(--model conv2x3,gap --data synthetic:64:1x8x8 --epochs 1 --out o.safetensors --no-test --quiet)
t0=(--model conv2x3,gap --data synthetic:64:1x8x8 --no-test --quiet) # without --epochs and --out

# ---- dispatch and global options ----
run 0 "" --version
run 0 "" --help
run 0 "" train --help
bad "no command given"
bad "unknown command 'trian'.*did you mean 'train'" trian
bad "unknown command" ''
bad "no command given" --platform 0
bad "two dashes" train -m conv2x3
bad "unknown option '--bogus'" summary --bogus
bad "did you mean --epochs" train --epoch 3
bad "--device-type.*not one of" devices --device-type fpga
bad "no OpenCL device matches.*--platform 99" devices --platform 99
bad "no OpenCL device matches" devices --device no-such-device
bad "no OpenCL device matches" devices --platform 0 --device 7
bad "no OpenCL device matches" --device-type accelerator devices
bad "no OpenCL device matches.*--platform 99999999999999999999" devices --platform 99999999999999999999
KDCL_DEVICE=9:9 bad "KDCL_DEVICE='9:9'" devices
bad "unexpected argument" devices extra
bad "--platform needs a value" devices --platform
bad "given twice" summary --model resnet14 --model resnet26
bad "takes no value" train --quiet=yes

# ---- summary: the model-spec grammar and --input/--classes ----
bad "model spec is empty" summary --model ''
bad "unknown layer" summary --model foo
bad "unknown layer \(did you mean conv" summary --model conf8x3
bad "expected conv" summary --model conv
bad "expected conv" summary --model conv0x3
bad "expected conv" summary --model conv8x0
bad "expected conv" summary --model conv8x3q1
bad "stride must be at least 1" summary --model conv8x3s0
bad "expected conv" summary --model conv99999999x3
bad "expected maxpool" summary --model maxpool0
bad "padding must be at most half" summary --model maxpool3p2
bad "dropout probability" summary --model dropout1.5
bad "dropout probability" summary --model dropoutx
bad "dropout probability" summary --model dropout-0.1
bad "expected dense" summary --model conv4x3,gap,dense0
bad "dense needs a flat input" summary --model conv4x3,dense10
bad "empty layer" summary --model conv4x3,,relu
bad "empty layer" summary --model conv4x3,
bad "width .* must be a number" summary --model resnet50:width=0
bad "width .* must be a number" summary --model resnet50:width=abc
bad "width .* must be a number" summary --model resnet50:width=1e9
bad "stem 'tiny'" summary --model resnet50:stem=tiny
bad "unknown option 'depth'" summary --model resnet50:depth=3
bad "not KEY=VALUE" summary --model resnet50:width
bad "smallest input that fits is 35x35" summary --model seed-cnn --input 1x28x28
bad "too long" summary --model "$(printf 'relu,%.0s' $(seq 1 60))relu"
bad "more than 2\^31" summary --model conv1000000x1,flatten --input 1x100x100
bad "more than 2\^31" summary --model conv1000000x3p1,conv1000000x3 --input 1x8x8
bad "--input '3x128' is not CxHxW" summary --input 3x128
bad "is not CxHxW" summary --input 0x32x32
bad "is not CxHxW" summary --input 3x-1x32
bad "is not CxHxW" summary --input 3x99999x32
bad "is not CxHxW" summary --input 3x32x32x
bad "is not CxHxW" summary --input ''
bad "is not CxHxW" summary --input 3x4294967328x32
bad "is not CxHxW" summary --input +3x8x8
bad "--classes" summary --classes 1
bad "--classes: 'abc' is not an integer" summary --classes abc
bad "--classes" summary --classes 99999999999
bad "--model needs a value" summary --model
run 0 "" summary --model flatten --input 1x4x4
run 0 "" summary --model bn,conv4x3,relu,gap --input 3x9x9 --classes 3

# ---- train: data specs and data files ----
bad "--data is required" train --model conv2x3,gap --out o.safetensors
bad "--out M.safetensors is required" train --model conv2x3,gap --data synthetic:64:1x8x8
bad "unknown data set 'imagenet'" train "${tr[@]:0:2}" --data imagenet --out o.safetensors
bad "--data is empty" train "${tr[@]:0:2}" --data '' --out o.safetensors
bad "N must be a whole number" train "${tr[@]:0:2}" --data synthetic:0 --out o.safetensors
bad "N must be a whole number" train "${tr[@]:0:2}" --data synthetic:abc --out o.safetensors
bad "N must be a whole number" train "${tr[@]:0:2}" --data synthetic:-5 --out o.safetensors
bad "must be CxHxW" train "${tr[@]:0:2}" --data synthetic:100:3x32 --out o.safetensors
bad "must be CxHxW" train "${tr[@]:0:2}" --data synthetic:100:99x32x32 --out o.safetensors
bad "exceed 2 GiB" train "${tr[@]:0:2}" --data synthetic:10000000:64x4096x4096 --out o.safetensors
bad "directory /nonexistent does not exist" train "${tr[@]:0:2}" --data fashion-mnist:/nonexistent --out o.safetensors
bad "cifar10" train "${tr[@]:0:2}" --data cifar10 --out o.safetensors
bad "CIFAR-10 directory /nonexistent does not exist" train "${tr[@]:0:2}" --data cifar10:/nonexistent --out o.safetensors
bad "data_batch_1.bin not found" train "${tr[@]:0:2}" --data "cifar10:$work/emptydir" --out o.safetensors
bad "data_batch_3.bin: truncated record" train "${tr[@]:0:2}" --data "cifar10:$work/cifar_cut" --out o.safetensors
bad "has label 12" train "${tr[@]:0:2}" --data "cifar10:$work/cifar_label" --out o.safetensors
bad "wrong magic number.*label file" train "${tr[@]:0:2}" --data "fashion-mnist:$work/fm_magic" --out o.safetensors
bad "holds 2 images but .* 3 labels" train "${tr[@]:0:2}" --data "fashion-mnist:$work/fm_count" --out o.safetensors
bad "truncated gzip|corrupt" train "${tr[@]:0:2}" --data "fashion-mnist:$work/fm_gz" --out o.safetensors
bad "unknown data set 'm.safetensors'" train "${tr[@]:0:2}" --data m.safetensors --out o.safetensors
bad "does not exist" train "${tr[@]:0:2}" --data fashion-mnist:m.safetensors --out o.safetensors
bad "does not exist" train "${tr[@]:0:2}" --data cifar10:pic.png --out o.safetensors
bad "not found" train "${tr[@]:0:2}" --data "fashion-mnist:$work/adir" --out o.safetensors

# ---- train: option values ----
bad "--epochs: 0 is out of range" train "${t0[@]}" --out o.safetensors --epochs 0
bad "--epochs: -1 is out of range" train "${t0[@]}" --out o.safetensors --epochs -1
bad "--epochs: '1e3' is not an integer" train "${t0[@]}" --out o.safetensors --epochs 1e3
bad "--epochs: '' is not an integer" train "${t0[@]}" --out o.safetensors --epochs ''
bad "--epochs: '99999999999999999999' is not an integer" train "${t0[@]}" --out o.safetensors --epochs 99999999999999999999
bad "--batch: 0 is out of range" train "${tr[@]}" --batch 0
bad "--batch: 100000 is out of range" train "${tr[@]}" --batch 100000
bad "--lr: 0 is out of range" train "${tr[@]}" --lr 0
bad "--lr: -1 is out of range" train "${tr[@]}" --lr -1
bad "--lr: 'nan' is not a finite number" train "${tr[@]}" --lr nan
bad "--lr: 'inf' is not a finite number" train "${tr[@]}" --lr inf
bad "--lr: '0x' is not a finite number" train "${tr[@]}" --lr 0x
bad "--lr: 1e\+09 is out of range" train "${tr[@]}" --lr 1e9
bad "--momentum: 1.5 is out of range" train "${tr[@]}" --momentum 1.5
bad "--weight-decay: -1 is out of range" train "${tr[@]}" --weight-decay -1
bad "--optimizer: 'rmsprop' is not one of adam\|sgd" train "${tr[@]}" --optimizer rmsprop
bad "--schedule: 'linear' is not one of" train "${tr[@]}" --schedule linear
bad "--augment: 'rotate' is not one of" train "${tr[@]}" --augment rotate
bad "--normalize: 'zscore' is not one of" train "${tr[@]}" --normalize zscore
bad "--val-split: 1 is out of range" train "${tr[@]}" --val-split 1
bad "--val-split: -0.1 is out of range" train "${tr[@]}" --val-split -0.1
bad "--limit: 0 is out of range" train "${tr[@]}" --limit 0
bad "--resize: 0 is out of range" train "${tr[@]}" --resize 0
bad "--resize: 5000 is out of range" train "${tr[@]}" --resize 5000
bad "--channels: 4 is out of range" train "${tr[@]}" --channels 4
bad "--channels 1: .* 3-channel images" train --model conv2x3,gap --data synthetic:64:3x8x8 --out o.safetensors --channels 1
bad "--seed: -1 is out of range" train "${tr[@]}" --seed -1
bad "--warmup: -1 is out of range" train "${tr[@]}" --warmup -1
bad "--lr-gamma: 2 is out of range" train "${tr[@]}" --lr-gamma 2
bad "--checkpoint-every: -5 is out of range" train "${tr[@]}" --checkpoint-every -5
bad "--stop-after: -1 is out of range" train "${tr[@]}" --stop-after -1
bad "--log-every: -1 is out of range" train "${tr[@]}" --log-every -1
bad "--adamw applies to --optimizer adam only" train "${tr[@]}" --optimizer sgd --adamw
bad "--nesterov applies to --optimizer sgd only" train "${tr[@]}" --nesterov
bad "smallest input that fits" train --model seed-cnn --data synthetic:64:1x8x8 --out o.safetensors
bad "--val-split 0.9 holds out all 1 training images" train "${tr[@]}" --limit 1 --val-split 0.9
bad "--out /nonexistent/m.safetensors: the directory /nonexistent does not exist" train "${t0[@]}" --epochs 1 --out /nonexistent/m.safetensors
bad "--out adir is a directory" train "${t0[@]}" --epochs 1 --out adir
bad "--log nodir/l.jsonl: the directory nodir does not exist" train "${tr[@]}" --log nodir/l.jsonl
bad "--device-type.*not one of" train "${tr[@]}" --device-type fpga
bad "no OpenCL device matches" train "${tr[@]}" --platform 42

# ---- train: files given to --init and --resume ----
bad "--resume missing.ckpt.safetensors: no such file" train "${tr[@]}" --resume missing.ckpt.safetensors
bad "not a kdcl training checkpoint" train "${tr[@]}" --resume m.safetensors
bad "header length|not a safetensors" train "${tr[@]}" --resume pic.png
bad "header length|not a safetensors|empty" train "${tr[@]}" --resume empty.safetensors
bad "not a regular file" train "${tr[@]}" --resume adir
bad "cannot open missing.safetensors" train "${tr[@]}" --init missing.safetensors
bad "pic.png: .*(header length|not a safetensors)" train "${tr[@]}" --init pic.png
bad "notes.txt: .*(header length|not a safetensors)" train "${tr[@]}" --init notes.txt
bad "cut.safetensors: .*(truncated|header length)" train "${tr[@]}" --init cut.safetensors
bad "hugelen.safetensors: header length .* exceeds" train "${tr[@]}" --init hugelen.safetensors
bad "no tensor of the file matches" train "${tr[@]}" --init foreign.safetensors
bad "'0.weight' has shape \[7, 1, 3, 3\] but .* needs \[2, 1, 3, 3\]" train "${tr[@]}" --init wrongshape.safetensors
# A checkpoint from one command line does not resume another.
"$bin" train "${t0[@]}" --epochs 1 --out r.safetensors > /dev/null 2>&1
bad "written with other settings" train "${t0[@]}" --epochs 1 --out r2.safetensors --lr 0.01 --resume r.ckpt.safetensors
bad "written with another --optimizer|other settings" train "${t0[@]}" --epochs 1 --out r2.safetensors --optimizer sgd --resume r.ckpt.safetensors
bad "'0.weight' has shape \[2, 1, 3, 3\] but .* needs \[3, 1, 3, 3\]" train --model conv3x3,gap --data synthetic:64:1x8x8 --epochs 1 --out r2.safetensors --no-test --quiet --resume r.ckpt.safetensors
bad "not a kdcl training checkpoint" train "${t0[@]}" --epochs 1 --out r2.safetensors --resume foreign.safetensors

# ---- distill ----
dt=(--student conv2x3,gap --data synthetic:64:1x8x8 --epochs 1 --out s.safetensors --no-test --quiet)
bad "--teacher T.safetensors is required" distill "${dt[@]}"
bad "cannot open missing.safetensors" distill --teacher missing.safetensors "${dt[@]}"
bad "pic.png" distill --teacher pic.png "${dt[@]}"
bad "foreign.safetensors has no kdcl metadata" distill --teacher foreign.safetensors "${dt[@]}"
bad "not a regular file" distill --teacher adir "${dt[@]}"
bad "--temperature: 0 is out of range|--temperature must be > 0" distill --teacher m.safetensors "${dt[@]}" --temperature 0
bad "--temperature: -1 is out of range|--temperature must be > 0" distill --teacher m.safetensors "${dt[@]}" --temperature -1
bad "--temperature: 'nan' is not a finite number" distill --teacher m.safetensors "${dt[@]}" --temperature nan
bad "--alpha: 1.5 is out of range" distill --teacher m.safetensors "${dt[@]}" --alpha 1.5
bad "--alpha: -0.1 is out of range" distill --teacher m.safetensors "${dt[@]}" --alpha -0.1
bad "--cache-teacher needs --augment none or flip" distill --teacher m.safetensors "${dt[@]}" --cache-teacher --augment crop
bad "unknown layer" distill --teacher m.safetensors "${dt[@]:2}" --student foo
bad "cannot open missing.safetensors" distill --teacher m.safetensors "${dt[@]:0:8}" --quiet --baseline-model missing.safetensors
bad "foreign.safetensors has no kdcl metadata" distill --teacher m.safetensors "${dt[@]:0:8}" --quiet --baseline-model foreign.safetensors
bad "--baseline-model only feeds the final comparison.*--no-test" distill --teacher m.safetensors "${dt[@]}" --baseline-model m.safetensors
bad "--baseline only feeds the final comparison.*--no-test" distill --teacher m.safetensors "${dt[@]}" --baseline
# --baseline was once --baseline FILE: the old form says what replaced it.
bad "--baseline takes no file.*--baseline-model" distill --teacher m.safetensors "${dt[@]:0:8}" --baseline m.safetensors
# Teacher and baseline files must fit the data: classes and channels, named.
bad "--teacher m.safetensors takes 1-channel images but .* 3 channels" distill --teacher m.safetensors --student conv2x3,gap --data synthetic:64:3x8x8 --epochs 1 --out s.safetensors --quiet
bad "--baseline-model m.safetensors takes 1-channel images but .* 3 channels" distill --teacher m3.safetensors --student conv2x3,gap --data synthetic:64:3x8x8 --epochs 1 --out s.safetensors --quiet --baseline-model m.safetensors
# Each method's own weights, and only those.
bad "--alpha belongs to classic KD.*--dkd-alpha" distill --teacher m.safetensors "${dt[@]}" --kd dkd --alpha 0.5
bad "--dkd-beta belongs to Decoupled KD.*--kd dkd" distill --teacher m.safetensors "${dt[@]}" --dkd-beta 2
bad "--dkd-alpha belongs to Decoupled KD" distill --teacher m.safetensors "${dt[@]}" --kd kd --dkd-alpha 2
bad "--nesterov applies to --optimizer sgd only" distill --teacher m.safetensors "${dt[@]}" --optimizer adam --nesterov
bad "--no-nesterov takes no value" distill --teacher m.safetensors "${dt[@]}" --no-nesterov=1
bad "unknown option --no-such|--no-such" distill --teacher m.safetensors "${dt[@]}" --no-such
run 0 "" distill --teacher m.safetensors "${dt[@]}" --optimizer adam
run 0 "" distill --teacher m.safetensors "${dt[@]}" --no-nesterov
bad "--kd: 'fitnet' is not one of" distill --teacher m.safetensors "${dt[@]}" --kd fitnet
bad "--dkd-beta: -1 is out of range" distill --teacher m.safetensors "${dt[@]}" --kd dkd --dkd-beta -1
bad "--dropout '1' is not a probability" distill --teacher m.safetensors "${dt[@]}" --dropout 1
bad "--dropout: model 'conv2x3,gap' has no dropout layer" distill --teacher m.safetensors "${dt[@]}" --dropout 0.2
bad "--dropout: model 'resnet14' has no dropout layer" train --model resnet14 --data synthetic:64:1x8x8 --epochs 1 --out r.safetensors --dropout 0.2
bad "seed-cnn:dropout=2.: dropout=P needs P in \[0, 1\)" summary --model seed-cnn:dropout=2 --input 1x36x36
bad "--out /nonexistent/s.safetensors: the directory" distill --teacher m.safetensors "${dt[@]:0:6}" --out /nonexistent/s.safetensors

# ---- eval ----
bad "--model M.safetensors and --data DATA are required" eval --data synthetic:64:1x8x8
bad "--model M.safetensors and --data DATA are required" eval --model m.safetensors
bad "cannot open missing.safetensors" eval --model missing.safetensors --data synthetic:64:1x8x8
bad "pic.png: .*(header length|not a safetensors)" eval --model pic.png --data synthetic:64:1x8x8
bad "cut.jpg: .*(header length|not a safetensors|shorter)" eval --model cut.jpg --data synthetic:64:1x8x8
bad "empty.safetensors: the file is empty" eval --model empty.safetensors --data synthetic:64:1x8x8
bad "cut.safetensors" eval --model cut.safetensors --data synthetic:64:1x8x8
bad "not a regular file" eval --model adir --data synthetic:64:1x8x8
bad "no kdcl metadata" eval --model foreign.safetensors --data synthetic:64:1x8x8
bad "takes 1-channel images but .* 3 channels" eval --model m.safetensors --data synthetic:64:3x8x8
bad "--split: 'dev' is not one of" eval --model m.safetensors --data synthetic:64:1x8x8 --split dev
bad "--batch: 0 is out of range" eval --model m.safetensors --data synthetic:64:1x8x8 --batch 0
bad "unknown data set" eval --model m.safetensors --data pic.png
bad "the val split is empty" eval --model m.safetensors --data synthetic:64:1x8x8 --split val --val-split 0

# ---- predict ----
bad "--model M.safetensors is required" predict pic.png
bad "no images given" predict --model m.safetensors
bad "give either image files or --data" predict --model m.safetensors --data synthetic:64:1x8x8 --out l.safetensors pic.png
bad "--data needs --out" predict --model m.safetensors --data synthetic:64:1x8x8
bad "--out, --split, --limit and --val-split go with --data" predict --model m.safetensors --out l.safetensors pic.png
bad "--top and --json apply to image files" predict --model m.safetensors --data synthetic:64:1x8x8 --out l.safetensors --json
bad "--top: 0 is out of range|--top" predict --model m.safetensors --top 0 pic.png
bad "pic.png: .*(header length|not a safetensors)" predict --model pic.png pic.png
# Unreadable images are reported one by one and the run exits 1 (documented).
run 1 "missing.png|notes.txt|cut.jpg" predict --model m.safetensors missing.png notes.txt cut.jpg
run 0 "" predict --model m.safetensors pic.png

echo "cli_bad_input: $cases cases, $failures failures"
[ "$failures" -eq 0 ]

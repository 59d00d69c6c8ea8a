#!/usr/bin/env bash
# kdcl export end to end: seed-cnn (dropout), a layer-string model with
# batch norm after conv and dense and dataset normalisation, and a small
# 3-channel ResNet are trained briefly on generated files, exported, checked
# by onnx.checker and run by ONNX Runtime at batch 1 and 7 (dynamic and
# fixed batch, folded and unfolded batch norm): logits within 1e-4 of
# `kdcl predict --data --out`. Bad input is refused with a message, exit
# status 2 and no file left behind.
#
# usage: cli_onnx_export.sh KDCL_BINARY   (env KDCL_ONNX_PYTHON: a python with onnx and onnxruntime)
set -u
bin=${1:?usage: cli_onnx_export.sh KDCL_BINARY}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
py=${KDCL_ONNX_PYTHON:-}
helper=$(cd "$(dirname "$0")" && pwd)/onnx_compare.py
# Not a skip: without ONNX Runtime the export is unproven, so the test fails.
if [ -z "$py" ] || ! "$py" -c "import onnx, onnxruntime" 2>/dev/null; then
  echo "FAIL: no python with onnx and onnxruntime at '${py}' (KDCL_ONNX_PYTHON): run the README's set-up" \
    "command, which installs python3-onnx and creates build/venv with onnxruntime" >&2
  exit 1
fi
KD_TEST_NAME=onnx
. "$(dirname "$0")/cli_lib.sh"
run() { # run LOG COMMAND...: the command's output to LOG; on failure show it and stop
  local log=$1; shift
  "$@" > "$log" 2>&1 || { echo "FAIL: $* (exit $?):"; cat "$log"; exit 1; }
}

"$py" "$helper" data-gray gray 36 36 96 14
"$py" "$helper" data-cifar cifar 80 14
# A few epochs at a high rate, so that the logits and batch-norm statistics
# are far from their initial values (random labels: memorised, not learnt).
gray=(--data fashion-mnist:gray --batch 16 --epochs 4 --lr 0.01 --quiet)
cifar=(--data cifar10:cifar --batch 16 --epochs 4 --lr 0.01 --quiet)
bnnet=conv8x3p1,bn,relu,maxpool2,conv8x3,bn,relu,avgpool2,flatten,dense16,bn,relu,dropout0.3
run seed.txt "$bin" train --model seed-cnn "${gray[@]}" --out seed.safetensors
run bn.txt "$bin" train --model "$bnnet" "${gray[@]}" --normalize dataset --out bn.safetensors
run res.txt "$bin" train --model resnet14:width=0.125 "${cifar[@]}" --out res.safetensors

compare() { # compare NAME MODEL.safetensors DATA_DIR KIND SPEC EXPORT_FLAGS...: export, then batch 1 and 7
  local name=$1 model=$2 dir=$3 kind=$4 spec=$5; shift 5
  local data=fashion-mnist:$dir
  [ "$kind" = cifar ] && data=cifar10:$dir
  [ -f "$model.logits" ] || run "$model.predict.txt" "$bin" predict --model "$model" --data "$data" --out "$model.logits"
  run "$name.export.txt" "$bin" export --model "$model" --out "$name.onnx" "$@"
  check "$name: export reports the file ($(cat "$name.export.txt"))" grep -q "^wrote $name.onnx: opset" "$name.export.txt"
  local batches="1 7" extra=()
  case " $* " in *" --batch 7 "*) batches=7; extra+=(--fixed) ;; esac
  case " $* " in *" --softmax "*) extra+=(--softmax) ;; esac
  for b in $batches; do
    "$py" "$helper" compare "$name.onnx" "$model.logits" "$dir" "$kind" "$b" --spec "$spec" "${extra[@]}" \
      > "$name.$b.txt" 2>&1
    local rc=$?
    cat "$name.$b.txt"
    check "$name at batch $b: checker passes, ORT matches kdcl predict" test $rc -eq 0
  done
}
compare seed seed.safetensors gray gray seed-cnn
compare seed-fixed seed.safetensors gray gray seed-cnn --batch 7 --softmax
compare bn bn.safetensors gray gray "$bnnet"
compare bn-unfolded bn.safetensors gray gray "$bnnet" --no-fold --opset 17
compare res res.safetensors cifar cifar resnet14:width=0.125,stem=small
compare res-unfolded res.safetensors cifar cifar resnet14:width=0.125,stem=small --no-fold --batch 7
# The shipped teacher (trained, logits of size ~10) on real Fashion-MNIST images.
shipped=$(cd "$(dirname "$helper")/.." && pwd)/models/fmnist-resnet26.safetensors
fm=/usr/share/datasets/fashion-mnist
run shipped.predict.txt "$bin" predict --model "$shipped" --data fashion-mnist --limit 14 --out shipped.logits
cp "$shipped" shipped.safetensors
cp shipped.logits shipped.safetensors.logits
compare shipped shipped.safetensors "$fm" gray resnet26:width=0.25,stem=small
check "folding removes seed-cnn's nothing, bn-net's three batch norms" \
  grep -q "3 batch norms folded" bn.export.txt
check "the unfolded export keeps them" grep -q " 0 batch norms folded" bn-unfolded.export.txt
check "the normalisation is inside the graph (Sub, Div)" \
  "$py" -c "import onnx,sys; m=onnx.load('bn.onnx'); ops=[n.op_type for n in m.graph.node]; sys.exit(ops[:2]!=['Sub','Div'])"
check "seed-cnn's graph has no Dropout and no Sub/Div" \
  "$py" -c "import onnx,sys; ops={n.op_type for n in onnx.load('seed.onnx').graph.node}; sys.exit(bool(ops & {'Dropout','Sub','Div'}))"

# Bad input: exit 2, a message naming the problem, no output file.
refused() { # refused DESCRIPTION PATTERN OUT ARGS...
  local what=$1 pattern=$2 out=$3; shift 3
  "$bin" export "$@" --out "$out" > bad.txt 2>&1
  local rc=$?
  check "$what: exit 2 (got $rc: $(head -c 300 bad.txt))" test $rc -eq 2
  check "$what: message matches '$pattern'" grep -q -- "$pattern" bad.txt
  check "$what: no file left" test ! -e "$out"
}
echo "not a model" > text.safetensors
refused "not a safetensors file" "text.safetensors" x1.onnx --model text.safetensors
"$py" -c "import json,struct; h=json.dumps({'x':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}).encode();
open('plain.safetensors','wb').write(struct.pack('<Q',len(h))+h+bytes(4))"
refused "safetensors without kdcl metadata" "no kdcl metadata" x2.onnx --model plain.safetensors
refused "a kdcl logits file (metadata, no weights)" "tensor 'conv1.weight'.*is missing" x2.onnx --model res.safetensors.logits
refused "missing model file" "nope.safetensors" x3.onnx --model nope.safetensors
refused "bad --batch" "'--batch'\|--batch 'zero'" x4.onnx --model seed.safetensors --batch zero
refused "opset out of range" "opset" x5.onnx --model seed.safetensors --opset 9
run odd.txt "$bin" train --model conv4x3,relu,flatten,conv4x1 "${gray[@]}" --out odd.safetensors
refused "a layer ONNX cannot express" "layer '3' (conv)" x6.onnx --model odd.safetensors
"$bin" export --model seed.safetensors --out /nonexistent-dir/s.onnx > unw.txt 2>&1
rc=$?
check "unwritable path: non-zero exit (got $rc)" test $rc -ne 0
check "unwritable path: named ($(head -c 300 unw.txt))" grep -q "/nonexistent-dir/s.onnx" unw.txt
check "no temporary files left" bash -c "! ls -a | grep -q 'tmp'"
"$bin" export --help > help.txt 2>&1
check "--help states the input rule" grep -q "pixels scaled to" help.txt

echo "$((checks - failures)) of $checks checks passed"
[ "$failures" -eq 0 ]

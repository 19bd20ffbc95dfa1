# CoIT SFT at Lens's compute (docs/runs/lens-smollm2/README.md, "CoIT at matched compute").
# A = the Alpaca demo sets fetched by scripts/fetch-data.sh (~/.cache/xlingo/data/alpaca).
# English records 800–999 and Chinese 801–1000 are held out for `eval lm`:
python3 -c "import json; d=json.load(open('$A/alpaca_en_demo.json')); json.dump(d[:799], open('alpaca_en_train.json','w'))"
python3 -c "import json; d=json.load(open('$A/alpaca_zh_demo.json')); json.dump(d[:800], open('alpaca_zh_train.json','w'), ensure_ascii=False)"
xlingo data coit --lang zh --udhr --general-en alpaca_en_train.json --general-target alpaca_zh_train.json --general-ratio 1 --out coit-zh.jsonl
xlingo data coit --lang es --bible --max-pairs 2000 --general-en alpaca_en_train.json --general-ratio 1 --out coit-es.jsonl
echo '{"es": 100, "zh": 100}' > budgets.json
xlingo data muit --pool es=coit-es.jsonl --pool zh=coit-zh.jsonl --budgets budgets.json --out muit.jsonl
# Lens's trainable parameters, steps, sequences per step, learning rate, warm-up and weight decay:
xlingo train sft --data muit.jsonl --out coit-run --method full --top-layers 2 --steps 25 --batch-size 1 --grad-accum 8 \
  --warmup 2 --lr 1e-4 --weight-decay 0.1 --max-len 256 --valid-fraction 0 --eval-every 0 --save-every 25 --export gguf
M=coit-run/model-f16.gguf
P=crates/data/assets/lens-prompts.jsonl
for l in es zh; do
  xlingo eval chat --model $M --prompts $P --lang $l --skip 200 --max-tokens 40 --engine reference --out chat-$l
done
xlingo eval chat --model $M --prompts $P --lang en --skip 200 --limit 20 --max-tokens 40 --engine reference --out chat-en
xlingo eval translation --model $M --source docs/runs/coit-es-lora/test.en --reference docs/runs/coit-es-lora/test.es \
  --target-lang es --max-tokens 64 --engine reference --out translation
# English and Chinese fluency of the base model, the Lens model and this one:
for m in smollm2-135m-instruct lens-run/model-f16.gguf $M; do
  xlingo eval lm --model $m --data $A/alpaca_en_demo.json --skip 799 --limit 200 --out lm-en-…
  xlingo eval lm --model $m --data $A/alpaca_zh_demo.json --skip 800 --limit 100 --out lm-zh-…
done

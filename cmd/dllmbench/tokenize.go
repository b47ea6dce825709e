package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"dllmbench/tokenizer"
)

func init() {
	register(&command{
		name:    "tokenize",
		summary: "encode stdin to token ids, or decode ids to text",
		usage:   "--tokenizer FILE_DIR_OR_MODEL [--add-special] [--decode] < input",
		examples: `  printf 'Hello world' | dllmbench tokenize --tokenizer ~/models/Meta-Llama-3-8B
  printf 'Hello world' | dllmbench tokenize --tokenizer tokenizer.json --add-special
  echo '[9906, 1917]' | dllmbench tokenize --tokenizer ~/models/Meta-Llama-3-8B --decode
`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			path := fs.String("tokenizer", "", "tokenizer.json, a model directory holding it, a Hugging Face id in the cache or builtin:demo-llama")
			addSpecial := fs.Bool("add-special", false, "add the post-processor's special tokens (BOS) as HF tokenizer(text) does")
			decodeIDs := fs.Bool("decode", false, "read a JSON array of ids and print the text (as transformers' decode for a directory, tokenizers' for a file)")
			skip := fs.Bool("skip-special", false, "with --decode: leave special tokens out of the text")
			return func(ctx context.Context, args []string) error {
				if len(args) > 0 {
					return usagef("unexpected argument %q (the text comes on stdin)", args[0])
				}
				if *path == "" {
					return usagef("--tokenizer is required")
				}
				if *skip && !*decodeIDs {
					return usagef("--skip-special applies to --decode only")
				}
				if *addSpecial && *decodeIDs {
					return usagef("--add-special applies to encoding only, not to --decode")
				}
				// A model named as generate names it (a Hugging Face id in
				// the cache, builtin:demo-llama) where no such file is; a
				// name in .json is a file.
				p := *path
				if _, err := os.Stat(p); err != nil && !strings.HasSuffix(p, ".json") {
					if p, err = resolveModel(p); err != nil {
						return err
					}
				}
				tok, err := tokenizer.Load(p)
				if err != nil {
					return err
				}
				in, err := readAll(ctx, os.Stdin)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err != nil {
					return fmt.Errorf("reading stdin: %w", err)
				}
				if *decodeIDs {
					var ids []int
					if err := json.Unmarshal(in, &ids); err != nil {
						return fmt.Errorf("stdin is not a JSON array of token ids: %v", err)
					}
					for _, id := range ids {
						if _, ok := tok.Token(id); !ok {
							return fmt.Errorf("token id %d is not in the vocabulary of %d", id, tok.VocabSize())
						}
					}
					_, err := io.WriteString(out, tok.Decode(ids, *skip))
					return err
				}
				ids := tok.Encode(string(in), *addSpecial)
				if ids == nil {
					ids = []int{}
				}
				fmt.Fprintln(out, jsonInts(ids))
				return nil
			}
		},
	})
}

// readAll reads r to its end, or returns ctx's error once ctx is done: the
// Ctrl-C of a user typing the text must end tokenize, not wait for the
// input's end.
func readAll(ctx context.Context, r io.Reader) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		ch <- result{b, err}
	}()
	select {
	case res := <-ch:
		return res.b, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

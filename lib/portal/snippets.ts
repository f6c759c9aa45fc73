/**
 * How to call the gateway with a key, in the three forms people copy most: curl, the OpenAI
 * Python SDK and the OpenAI Node SDK (LiteLLM speaks the OpenAI API).
 *
 * The key is never written into a snippet, not even right after the one-time reveal: snippets
 * are pasted into shell history, notebooks and source files, and from there into commits and
 * chat. They read it from an environment variable instead, which is the habit worth teaching;
 * the reveal box beside them has its own Copy button for the key itself.
 */
export const KEY_ENV_VAR = 'LLM_API_KEY';

export interface Snippet {
  id: 'curl' | 'python' | 'node';
  label: string;
  code: string;
}

/** The OpenAI-compatible base URL: LiteLLM serves the API under /v1 (and at its root). */
export function openAiBaseUrl(gatewayUrl: string): string {
  const trimmed = gatewayUrl.replace(/\/+$/, '');
  return trimmed.endsWith('/v1') ? trimmed : `${trimmed}/v1`;
}

/** A shell word in single quotes, safe whatever an admin put in the URL. */
const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** A string literal valid in Python and JavaScript alike. */
const literal = (s: string): string => JSON.stringify(s);

export function usageSnippets(gatewayUrl: string, model: string): Snippet[] {
  const base = openAiBaseUrl(gatewayUrl);
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello' }] });
  return [
    {
      id: 'curl',
      label: 'curl',
      code: [
        `curl ${shellQuote(`${base}/chat/completions`)} \\`,
        `  -H "Authorization: Bearer $${KEY_ENV_VAR}" \\`,
        `  -H 'Content-Type: application/json' \\`,
        `  -d ${shellQuote(body)}`,
      ].join('\n'),
    },
    {
      id: 'python',
      label: 'Python (openai)',
      code: [
        'import os',
        'from openai import OpenAI',
        '',
        `client = OpenAI(base_url=${literal(base)}, api_key=os.environ[${literal(KEY_ENV_VAR)}])`,
        'response = client.chat.completions.create(',
        `    model=${literal(model)},`,
        '    messages=[{"role": "user", "content": "Say hello"}],',
        ')',
        'print(response.choices[0].message.content)',
      ].join('\n'),
    },
    {
      id: 'node',
      label: 'Node (openai)',
      code: [
        "import OpenAI from 'openai';",
        '',
        `const client = new OpenAI({ baseURL: ${literal(base)}, apiKey: process.env.${KEY_ENV_VAR} });`,
        'const response = await client.chat.completions.create({',
        `  model: ${literal(model)},`,
        "  messages: [{ role: 'user', content: 'Say hello' }],",
        '});',
        'console.log(response.choices[0].message.content);',
      ].join('\n'),
    },
  ];
}

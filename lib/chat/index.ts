import type { Config } from '../config';
import { SlackChat } from './slack';

/** The chat adapter the config names, or none (chat is optional: email stays the record). */
export function createChat(config: Pick<Config, 'chat' | 'secrets'>): SlackChat | undefined {
  const slack = config.chat.slack;
  const token = config.secrets.SLACK_BOT_TOKEN;
  // Config load refused a chat.slack without its token; this is only for the type.
  return slack && token ? new SlackChat(slack, token) : undefined;
}

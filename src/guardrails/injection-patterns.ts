/**
 * Pattern families of prompt injection (OWASP LLM01), matched on the normalised, lower-cased views
 * from normalize.ts (so "1gn0re", "ｉｇｎｏｒｅ", "іgnоrе" and base64 of it all read "ignore").
 * Each pattern has a weight: how much one match alone says "this is an injection". Patterns are
 * written for linear-time matching: bounded gaps (`.{0,40}`), no nested quantifiers.
 */

export type InjectionCategory =
  | 'instruction_override'
  | 'prompt_extraction'
  | 'jailbreak_persona'
  | 'role_impersonation'
  | 'delimiter_injection'
  | 'exfiltration'
  | 'indirect_injection'
  | 'hidden_text'
  | 'statistical';

export interface InjectionPattern {
  category: InjectionCategory;
  weight: number;
  re: RegExp;
}

const PRIOR = '(?:all |any |the |your |my |these |those |every )?(?:of )?(?:the |your )?';
const WHICH =
  '(?:previous|prior|above|earlier|preceding|following|initial|original|old|former|system|developer|given|existing)';
const RULES =
  '(?:instructions?|rules|prompts?|directions|guidelines|context|constraints|commands|orders|programming|directives|guardrails|restrictions|polic(?:y|ies)|safeguards)';

const p = (category: InjectionCategory, weight: number, source: string): InjectionPattern => ({
  category,
  weight,
  re: new RegExp(source),
});

/**
 * Words at least one of which a text needs before the ROT13 view is worth matching: ROT13 of
 * ordinary text never contains them, so this one scan spares the full pattern set.
 */
export const ROT13_GATE_WORDS = [
  'ignore',
  'disregard',
  'forget',
  'instruction',
  'instructions',
  'system',
  'prompt',
  'reveal',
  'previous',
  'jailbreak',
  'dan',
  'developer',
  'bypass',
  'override',
  'rules',
] as const;
export const ROT13_GATE = new RegExp(`\\b(?:${ROT13_GATE_WORDS.join('|')})\\b`);

export const INJECTION_PATTERNS: readonly InjectionPattern[] = [
  // instruction override
  p(
    'instruction_override',
    0.9,
    `\\b(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|discard|neglect)\\b.{0,12}${PRIOR}(?:${WHICH} )?(?:and |& )?(?:${WHICH} )?${RULES}`,
  ),
  p(
    'instruction_override',
    0.85,
    `\\b(?:ignore|disregard|forget)\\b (?:everything|all|anything) (?:above|before|previously|you (?:were|have been) told|said (?:above|before))`,
  ),
  p(
    'instruction_override',
    0.6,
    `\\b(?:do not|don't|never) (?:follow|obey|listen to|comply with) ${PRIOR}(?:${WHICH} )?${RULES}`,
  ),
  p(
    'instruction_override',
    0.6,
    `\\b(?:new|updated|real|actual|revised|true) (?:system )?(?:instructions?|rules|task|objective|prompt)\\s?:`,
  ),
  p('instruction_override', 0.5, `\\b(?:nevermind|never mind)\\b.{0,20}\\b(?:instead|ignore|forget|just)\\b`),
  p(
    'instruction_override',
    0.55,
    `\\bstop\\b.{0,10}\\b(?:everything|all)\\b.{0,20}\\b(?:just|now|instead) (?:print|say|write|output)\\b`,
  ),
  p('instruction_override', 0.5, `\\binstead,? (?:just )?(?:say|print|output|write|respond with)\\b`),
  // system / hidden prompt extraction
  p(
    'prompt_extraction',
    0.85,
    `\\b(?:reveal|show|print|repeat|output|display|dump|leak|disclose|expose|recite|spell(?: out)?|write (?:out|down)|tell me|give me|share|list|translate|summari[sz]e|encode|paste|copy)\\b.{0,25}\\b(?:system|initial|original|hidden|secret|internal|developer|pre-?)\\s?(?:prompt|instructions?|message|rules|directives|configuration)`,
  ),
  p(
    'prompt_extraction',
    0.6,
    `\\bwhat (?:is|are|was|were) (?:your|the) (?:system|initial|original|hidden|secret|exact|full) (?:prompt|instructions?|message|rules)`,
  ),
  p(
    'prompt_extraction',
    0.75,
    `\\b(?:repeat|print|output|return|write|copy)\\b.{0,20}\\b(?:the )?(?:words|text|everything|all|lines?|content|instructions?) (?:above|before this|preceding|prior)`,
  ),
  p('prompt_extraction', 0.6, `\\b(?:start(?:ing)?|begin(?:ning)?) with (?:"|')?you are\\b`),
  p(
    'prompt_extraction',
    0.75,
    `\\b(?:instructions?|text|prompt|message|rules|words|directions)\\b (?:that )?(?:you (?:were|have been|got) given|given to you|you (?:received|got))\\b.{0,30}\\b(?:initially|at the (?:start|beginning|top)|before (?:this|the user|me)|first|originally)\\b`,
  ),
  p(
    'prompt_extraction',
    0.55,
    `\\byour (?:initial|original|first|hidden|secret|system|pre-?) ?(?:prompt|instructions?|message|configuration)\\b`,
  ),
  p(
    'prompt_extraction',
    0.5,
    `\\b(?:your|the) (?:prompt|instructions) (?:verbatim|word for word|in full|exactly)\\b`,
  ),
  // extraction by indirection: asking what the model was told, continuation and code framings
  p(
    'prompt_extraction',
    0.7,
    `\\b(?:reveal|show|print|repeat|output|display|dump|leak|disclose|expose|recite|tell me|give me|share|list|paste|copy)\\b (?:me |us )?(?:all (?:of )?)?your (?:\\w+ )?(?:instructions|prompt|system message|guidelines|directives|configuration)\\b`,
  ),
  p(
    'prompt_extraction',
    0.7,
    `\\bwhat (?:were|have) you (?:been )?(?:told|instructed|programmed|asked) (?:before|at the (?:start|beginning)|initially|originally|not to)\\b`,
  ),
  p(
    'prompt_extraction',
    0.65,
    `\\bwhat (?:are|were) you (?:not )?(?:supposed|allowed|permitted|instructed) (?:not )?to (?:tell|say|reveal|share|disclose)\\b`,
  ),
  p(
    'prompt_extraction',
    0.7,
    `\\b(?:start|begin|complete|continue|finish)\\b.{0,40}["'] ?(?:my|the|your) (?:system |initial |original |hidden )?(?:prompt|instructions?|rules) (?:is|are|were|says?)\\b`,
  ),
  p(
    'prompt_extraction',
    0.7,
    `\\b(?:complete|continue|finish)\\b.{0,40}["'] ?i (?:was|have been|am) (?:instructed|told|programmed|configured) to\\b`,
  ),
  p(
    'prompt_extraction',
    0.7,
    `(?:print|console\\.log|echo|puts|printf|return|output|dump)\\s?\\(\\s?(?:this\\.|self\\.)?(?:system_?prompt|system_?message|initial_?prompt|instructions)\\b`,
  ),
  p(
    'prompt_extraction',
    0.6,
    `\\b(?:see|view|read|access|know|get|obtain)\\b.{0,20}\\b(?:the|your) (?:full |exact |complete )?(?:system|initial|original|hidden|secret) (?:prompt|instructions|message)\\b`,
  ),
  p(
    'prompt_extraction',
    0.7,
    `\\b(?:repeat|print|output|copy|rewrite|recite)\\b.{0,10}\\b(?:the )?(?:above|previous|preceding|prior|earlier) (?:text|words|content|message|lines|instructions|prompt)\\b`,
  ),
  // jailbreak personas
  p('jailbreak_persona', 0.9, `\\b(?:you|dan|stands for|called)\\b.{0,60}\\bdo anything now\\b`),
  p('jailbreak_persona', 0.35, `\\bdo anything now\\b`),
  p(
    'jailbreak_persona',
    0.6,
    `\\bdan\\b.{0,80}\\b(?:mode|jailbreak|anything|prompt|persona|character|rules|restrictions|openai)\\b`,
  ),
  p(
    'jailbreak_persona',
    0.85,
    `\\b(?:developer|dev|god|jailbreak|jailbroken|unrestricted|unfiltered|evil|sudo|dan) mode (?:enabled|activated|output|response|is (?:now )?(?:on|enabled|active))\\b`,
  ),
  p(
    'jailbreak_persona',
    0.75,
    `\\b(?:enable|activate|enter|switch to|turn on|you are (?:now )?in) (?:the )?(?:developer|dev|god|jailbreak|unrestricted|unfiltered|evil|sudo|dan) mode\\b`,
  ),
  p('jailbreak_persona', 0.75, `\\b(?:jailbreak|jailbroken|jail-broken)\\b`),
  p(
    'jailbreak_persona',
    0.7,
    `\\b(?:without|no|free (?:of|from)|not bound by|no longer (?:bound|restricted) by|broken free of) (?:any )?(?:moral|ethical|content|openai'?s?|safety|ai) (?:restrictions|filters|limitations|censorship|guidelines|policies|rules|boundaries|constraints)\\b`,
  ),
  p(
    'jailbreak_persona',
    0.6,
    `\\b(?:not bound by|no longer (?:bound|restricted) by|broken free of|freed from) (?:any |the )?(?:typical |usual )?(?:restrictions|filters|limitations|censorship|rules|confines)\\b`,
  ),
  p('jailbreak_persona', 0.35, `\\b(?:stay|remain|keep) in character\\b`),
  p(
    'jailbreak_persona',
    0.6,
    `\\b(?:amoral|unethical|unfiltered|uncensored|unrestricted)\\b.{0,40}\\b(?:ai|chatbot|assistant|model|persona|character|response)\\b`,
  ),
  p(
    'jailbreak_persona',
    0.55,
    `\\b(?:two|2|both) (?:different )?(?:responses|answers|paragraphs)\\b.{0,120}\\b(?:normal|classic|jailbreak|unfiltered|dan|developer mode)\\b`,
  ),
  p(
    'jailbreak_persona',
    0.5,
    `\\b(?:opposite|evil|dark|shadow|anti)[- ]?(?:gpt|ai|assistant|twin|version)\\b`,
  ),
  // role impersonation: claims to be the system, the developer, or to change who the model is
  p(
    'role_impersonation',
    0.5,
    `\\byou are (?:now|no longer)\\b.{0,40}\\b(?:ai|assistant|model|chatbot|gpt|bound|restricted|an? )`,
  ),
  p(
    'role_impersonation',
    0.6,
    `\\b(?:i am|i'm|this is) (?:your|the|an?) (?:developer|creator|administrator|admin|system|openai|anthropic)(?: team| staff| engineer)?\\b.{0,60}\\b(?:instruct|command|order|authori[sz]e|override|allow|permission)`,
  ),
  p(
    'role_impersonation',
    0.6,
    `\\b(?:pretend|imagine|act as if|act like) (?:that )?you (?:are|have) (?:no|not|an? (?:ai|model) (?:without|with no))\\b`,
  ),
  // delimiter / tool-result injection: fake turn boundaries and system markers
  p(
    'delimiter_injection',
    0.85,
    `<\\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\\|>`,
  ),
  p(
    'delimiter_injection',
    0.8,
    `\\[/?inst\\]|<</?sys>>|<\\/?(?:system|sys|instructions?|tool_result|function_results|assistant)>`,
  ),
  p(
    'delimiter_injection',
    0.6,
    `(?:^|[\\n"'}])\\s*(?:#{2,}|\\*\\*|\\[)?\\s*(?:system|admin|developer)\\s?(?:prompt|message|override|instruction|note)?\\s?[:\\]]\\s?(?:#{2,}|\\*\\*)?\\s?(?:ignore|you|new|from now|the assistant|override)`,
  ),
  p('delimiter_injection', 0.6, `"role"\\s?:\\s?"(?:system|developer)"`),
  p(
    'delimiter_injection',
    0.55,
    `\\b(?:end of|end|ignore the) (?:the )?(?:document|context|user input|tool (?:output|result)|email|data)\\b.{0,30}\\b(?:new|now|system|instructions?|ignore)\\b`,
  ),
  // exfiltration
  p(
    'exfiltration',
    0.85,
    `\\b(?:send|post|forward|upload|transmit|exfiltrate|email|leak|submit|append|include|embed|encode)\\b.{0,60}\\b(?:conversation|chat|history|messages|transcript|context|system prompt|credentials|api ?keys?|passwords?|secrets?|tokens?|personal data|user data|session|cookies?)\\b.{0,60}(?:https?:|www\\.|\\burl\\b|webhook|endpoint|server|@[a-z0-9-]+\\.)`,
  ),
  p('exfiltration', 0.75, `!\\[[^\\]]{0,40}\\]\\(https?:[^)\\s]{0,200}[?&][a-z_]{1,20}=(?:\\{|\\$|%7b|\\[)`),
  p(
    'exfiltration',
    0.6,
    `\\b(?:visit|open|fetch|load|call|curl|request)\\b.{0,40}https?:\\S{0,100}[?&]\\w{1,20}=.{0,40}\\b(?:conversation|history|data|secret|key|password|token)\\b`,
  ),
  // indirect injection: text addressed to the model from inside a document or tool result
  p(
    'indirect_injection',
    0.75,
    `\\b(?:note|message|instructions?|attention|important) (?:to|for) (?:the |any )?(?:ai|assistant|llm|language model|chatbot|model|agent|gpt|claude)\\b`,
  ),
  p(
    'indirect_injection',
    0.7,
    `\\b(?:if|when) (?:you are|you're|an?|the) (?:ai|assistant|llm|language model|chatbot|agent)\\b.{0,30}\\b(?:reading|processing|summari[sz]ing|reviewing|parsing|analy[sz]ing)\\b`,
  ),
  p(
    'indirect_injection',
    0.65,
    `\\b(?:ai|assistant|llm|chatbot|agent)s? (?:reading|processing|summari[sz]ing) this\\b`,
  ),
  p(
    'indirect_injection',
    0.6,
    `\\b(?:hey|dear|attention|hello),? (?:ai|assistant|llm|chatgpt|gpt|claude|bot)\\b.{0,40}\\b(?:ignore|must|should|instead|do not|don't|please)\\b`,
  ),
  p(
    'indirect_injection',
    0.6,
    `\\bthe (?:assistant|ai|model|llm|chatbot|agent) (?:must|should|will|shall|is to) (?:now|immediately|instead|also|secretly)\\b`,
  ),
  p(
    'exfiltration',
    0.7,
    `\\b(?:reveal|disclose|leak|expose|print|output|send)\\b.{0,20}\\b(?:secrets?|credentials|api keys?|passwords?|tokens)\\b.{0,30}\\b(?:context|memory|conversation|stored|you (?:have|know|were given|can see))\\b`,
  ),
  p(
    'indirect_injection',
    0.55,
    `\\bdo not (?:tell|inform|mention|reveal) (?:this )?(?:to )?(?:the )?user\\b`,
  ),
];

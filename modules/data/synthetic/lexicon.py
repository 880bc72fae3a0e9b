"""Word lists and English morphology for the synthetic sentence grammar.

Every list holds plain English words that eSpeak NG pronounces with its
English dictionaries. Heteronyms (``read``, ``lead``, ``wind``, ``close``...)
are left out so that a spelling always maps to one pronunciation.

Nouns are written in the singular; an irregular plural follows a slash
(``knife/knives``). Verbs are written as the base form; an irregular past
tense and past participle follow slashes (``see/saw/seen``) and a trailing
``*`` doubles the final consonant before ``-ed``/``-ing`` (``stop*``).

:func:`lexical_categories` turns the lists into the terminal categories used
by :mod:`grammar`, e.g. ``N_THING_PL`` or ``V_TR_PAST``. The corpus uses the
first :data:`WORDS_PER_CATEGORY` entries of each list (the lists are ordered
most common first): with every list in full the grammar has 2,556 words, and
on 2 hours of speech a fifth of the test words are then heard at most five
times in training, too few for a model to learn them (README, issue 2).

Authors
 * efficient-asr contributors
"""

NOUNS = {
    "PERSON": """
        man/men woman/women child/children boy girl king queen prince princess
        farmer teacher doctor sailor soldier captain merchant baker hunter
        fisherman/fishermen stranger neighbor friend servant master lady
        gentleman/gentlemen priest judge lawyer painter poet writer student
        scholar traveler shepherd miller blacksmith carpenter tailor weaver
        nurse cook guard knight duke duchess bishop monk pilot driver musician
        singer dancer player clerk banker officer general messenger widow
        orphan thief/thieves robber beggar giant dwarf/dwarfs wizard witch
        visitor guest owner keeper gardener hero/heroes villain peasant
        emperor empress sheriff mayor governor porter butler maid fiddler
        jester minstrel pirate explorer inventor scientist professor engineer
        architect sculptor potter jeweler barber grocer butcher innkeeper
        postman/postmen watchman/watchmen woodcutter lumberjack ranger
        cowboy detective inspector preacher""",
    "KIN": """
        mother father brother sister uncle aunt cousin daughter son
        grandmother grandfather wife/wives husband nephew niece""",
    "ANIMAL": """
        dog cat horse cow sheep/sheep goat pig bird eagle owl crow sparrow
        duck goose/geese hen rooster fox wolf/wolves bear deer/deer rabbit
        mouse/mice rat squirrel lion tiger elephant monkey snake frog
        fish/fish whale bee butterfly spider ant camel donkey mule lamb
        calf/calves pony dragon beetle parrot swan turtle badger otter
        hedgehog raven pigeon robin kitten puppy falcon hawk lizard bull ox/oxen
        goldfish/goldfish zebra giraffe kangaroo/kangaroos penguin dolphin seal""",
    "THING": """
        book box basket bottle cup plate bowl spoon knife/knives fork key lamp
        candle chair table bed clock watch ring coin sword shield hammer nail
        rope chain bell drum flute violin piano/pianos picture map coat hat
        shoe boot glove scarf dress shirt blanket pillow mirror wagon cart
        boat ship carriage bicycle train car engine wheel ladder bucket barrel
        bag purse wallet pen pencil paper parcel gift toy ball kite doll stone
        rock shell feather leaf/leaves flower rose branch jar pot pan kettle
        teapot brush comb needle thread button pocket umbrella camera
        telescope compass lantern tent flag trumpet whistle statue vase jewel
        crown diamond pearl medal stamp sack crate trunk suitcase saddle
        fence gate cushion carpet curtain helmet jacket sweater necklace
        bracelet spade shovel broom sock apron banner cannon anchor
        oar sail paddle tray napkin towel sponge candlestick chest cabinet
        drawer shelf/shelves sofa stool bench cradle puzzle marble pebble
        twig acorn pinecone horseshoe lock padlock""",
    "FOOD": """
        apple pear plum cherry grape lemon orange peach banana potato/potatoes
        tomato/tomatoes carrot onion cabbage turnip radish cucumber melon
        pumpkin egg loaf/loaves cake pie biscuit cookie muffin pancake waffle
        sandwich sausage pastry tart dumpling pudding bun berry strawberry
        raspberry apricot fig olive chestnut walnut almond bean pea pretzel
        doughnut cupcake omelet pickle""",
    "DOC": """
        letter note newspaper poem story message report diary journal list
        recipe postcard card telegram notebook novel magazine
        envelope ticket invitation certificate document manuscript scroll
        page chapter essay song riddle""",
    "PLACE": """
        house garden forest river lake mountain hill valley village town city
        castle palace church school market shop kitchen library station
        harbor beach island field farm barn road street bridge cave meadow
        orchard stable cottage inn tavern hotel hospital museum theater park
        square mill factory office prison temple tower camp port coast shore
        cliff bay pond stream swamp jungle room hall cellar attic porch yard
        courtyard corridor chapel cathedral bakery garage studio/studios classroom
        laboratory cabin hut lighthouse vineyard canyon glacier waterfall""",
}

MASS_FOODS = """bread soup cheese butter milk honey rice porridge meat jam sugar
    salt flour chocolate"""
DRINKS = "water milk tea coffee wine juice cider lemonade cocoa"

VERBS = {
    "INTR": """
        sleep/slept laugh cry smile sing/sang/sung dance wait rest
        sit*/sat/sat stand/stood/stood shout whisper listen work play
        shiver tremble breathe cough sneeze yawn nod* kneel/knelt/knelt pray
        escape fight/fought/fought argue complain hesitate sigh weep/wept/wept
        giggle scream vanish disappear faint grow/grew/grown wake/woke/woken
        snore relax agree obey worry recover""",
    "TR": """
        see/saw/seen find/found/found take/took/taken bring/brought/brought
        carry hold/held/held buy/bought/bought sell/sold/sold keep/kept/kept
        lose/lost/lost build/built/built paint mend clean wash open push pull
        throw/threw/thrown catch/caught/caught drop* lift watch follow
        chase feed/fed/fed hide/hid/hidden fix fill guard protect admire
        hit*/hit/hit kick steal/stole/stolen borrow lend/lent/lent hug* grab*
        touch shake/shook/shaken break/broke/broken drag* wrap* pack count
        examine measure weigh collect gather bury carve cover deliver dry
        fold hang/hung/hung load move notice offer repair rescue share
        pick search sketch squeeze test trade tie wear/wore/worn""",
    "MOVE": """
        go/went/gone come/came/come walk run*/ran/run ride/rode/ridden sail
        hurry march wander drive/drove/driven climb creep/crept/crept travel
        swim*/swam/swum fly/flew/flown rush stroll jog* crawl hike wade
        return race""",
    "EAT": """
        eat/ate/eaten cook bake taste buy/bought/bought sell/sold/sold
        peel slice chop* share smell""",
    "DRINK": "drink/drank/drunk sip* pour spill",
    "WRITE": """
        write/wrote/written send/sent/sent sign burn/burnt/burnt copy
        study finish hide/hid/hidden print deliver mail
        translate answer""",
    "SOCIAL": """
        meet/met/met help thank greet invite visit call warn teach/taught/taught
        love hate like trust forgive/forgave/forgiven remember forget*/forgot/forgotten
        marry kiss pay/paid/paid hire blame praise scold tease comfort
        obey serve rescue""",
    "PLACE": """
        leave/left/left reach enter cross search explore clean visit paint
        guard sweep/swept/swept decorate fill empty""",
    "GIVE": """
        give/gave/given show/showed/shown offer hand send/sent/sent
        bring/brought/brought lend/lent/lent sell/sold/sold throw/threw/thrown pass""",
    "SAY": """
        say/said/said think/thought/thought believe know/knew/known hope fear
        dream/dreamt/dreamt notice promise explain discover suspect guess
        decide admit* imagine suppose""",
    "TELL": """
        tell/told/told promise remind assure warn teach/taught/taught
        show/showed/shown""",
    "CTRL": """
        want try begin*/began/begun forget*/forgot/forgotten promise
        agree plan* need like love hate decide prefer* hope learn/learnt/learnt
        start attempt manage pretend""",
}

IRREGULAR_PRESENT = {"go": "goes", "do": "does", "have": "has"}

WORDS = {
    "ADJ_CHAR": """
        brave kind cruel gentle happy sad angry quiet noisy proud humble rich
        poor strong weak clever foolish wise silly honest lazy busy careful
        curious hungry thirsty tired sleepy lucky lonely friendly polite rude
        calm fierce shy bold cheerful grumpy jolly patient nervous anxious
        stubborn generous greedy jealous merry sly wicked faithful loyal
        cautious eager famous handsome beautiful pretty ugly clumsy graceful
        gloomy grateful innocent mighty modest""",
    "ADJ_THING": """
        heavy light broken wooden iron golden silver shiny dusty empty full
        strange sharp smooth rough soft hard warm cold wet dry clean dirty
        precious cheap expensive plain fancy round square narrow wide thick
        thin useful useless rusty splendid delicate fragile sturdy ancient
        valuable mysterious magic""",
    "ADJ_FOOD": """
        fresh ripe sweet sour juicy delicious rotten crisp tasty stale warm
        spicy salty bitter tender""",
    "ADJ_DOC": """
        long short secret strange funny sad famous urgent important boring
        dull exciting curious mysterious""",
    "ADJ_PLACE": """
        quiet busy peaceful lonely dark bright crowded empty distant nearby
        hidden famous ancient dangerous pleasant gloomy muddy sunny shady
        windy misty snowy dusty sleepy""",
    "COLOR": "red blue green yellow white black brown gray purple pink orange",
    "SIZE": "big small tall little large huge tiny enormous long short",
    "AGE": "old young new ancient modern",
    "ADJ_CMP": """
        taller older younger stronger faster richer wiser smaller bigger
        happier kinder braver louder quieter poorer weaker cleverer prouder
        busier hungrier""",
    "ADJ_SUP": """
        tallest oldest youngest strongest fastest richest wisest smallest
        biggest happiest kindest bravest loudest quietest poorest cleverest""",
    "ADV": """
        quickly slowly quietly loudly carefully suddenly happily sadly gently
        bravely angrily calmly eagerly patiently politely proudly softly
        wisely foolishly nervously cheerfully silently kindly firmly briskly
        lazily proudly anxiously gladly boldly rudely sweetly warmly
        honestly easily badly well hard together alone again away""",
    "ADV_FREQ": "always often sometimes usually rarely seldom never",
    "NAME": """
        john mary thomas anne william elizabeth james margaret robert sarah
        henry jane george emma charles lucy edward alice richard helen peter
        catherine arthur grace frank ruth harry clara walter martha albert
        rose samuel laura daniel emily joseph hannah david susan michael
        dorothy paul agnes frederick edith oliver maria harold julia tom
        kate jack molly ben sophie ned nora philip betty hugh ellen simon
        louisa victor ada martin violet""",
    "SURNAME": """
        smith brown jones taylor wilson davis miller clark walker wright
        thompson white hall green wood harris martin cooper hill ward baker
        turner carter morris king hughes parker evans lee allen young scott
        mitchell campbell robinson stewart palmer fisher webb marsh bell""",
    "TITLE": "mister missus miss doctor captain professor",
    "DAY": "monday tuesday wednesday thursday friday saturday sunday",
    "MONTH": """january february march april may june july august september
        october november december""",
    "SEASON": "spring summer autumn winter",
    "DAYPART": "morning afternoon evening",
    "MEAL": "breakfast lunch dinner supper",
    "MONEY": "dollars pounds shillings pennies cents",
    "VEHICLE": "train boat bus car ship coach carriage ferry",
    "DIGIT1": "one two three four five six seven eight nine",
    "DIGIT2": "two three four five six seven eight nine",
    "TEEN": """ten eleven twelve thirteen fourteen fifteen sixteen seventeen
        eighteen nineteen""",
    "TENS": "twenty thirty forty fifty sixty seventy eighty ninety",
    "CENTURY": "fifteen sixteen seventeen eighteen nineteen",
    "ORDINAL": """first second third fourth fifth sixth seventh eighth ninth
        tenth eleventh twelfth thirteenth fourteenth fifteenth twentieth
        thirtieth""",
    "DURATION": "minutes hours days weeks months years",
    "SAY_QUOTE": """said replied cried whispered answered shouted exclaimed
        added murmured called""",
    "PREP_AT_PLACE": """in near behind inside outside beyond beside at by above
        below""",
    "PREP_AT_THING": "on under beside behind near inside",
    "PREP_TO_PLACE": """to into across through toward past around along
        beyond""",
    "CONJ": "and but so",
    "SUB": "because although while when before after until since",
}

# Entries kept from each list above: 1,380 grammar words instead of 2,556.
WORDS_PER_CATEGORY = 20

# Capitalised in the text given to eSpeak, which reads "May" or "Rose" better.
PROPER_NOUNS = ("NAME", "SURNAME", "DAY", "MONTH")

SIBILANT_ENDINGS = ("s", "x", "z", "ch", "sh", "o")
VOWELS = "aeiou"


def plural(noun):
    """Return the regular English plural of ``noun``.

    Arguments
    ---------
    noun : str
        A singular noun without an irregular plural.

    Returns
    -------
    str
        The plural form.

    Example
    -------
    >>> plural("box"), plural("city"), plural("cup")
    ('boxes', 'cities', 'cups')
    """
    if noun.endswith(SIBILANT_ENDINGS):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


def third_person(verb):
    """Return the third person singular present of ``verb``.

    Arguments
    ---------
    verb : str
        The base form.

    Returns
    -------
    str
        E.g. ``carries`` for ``carry``.
    """
    if verb in IRREGULAR_PRESENT:
        return IRREGULAR_PRESENT[verb]
    return plural(verb)


def past(verb, double):
    """Return the regular past tense of ``verb`` (``double``: ``stop*``)."""
    if double:
        return verb + verb[-1] + "ed"
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2] not in VOWELS:
        return verb[:-1] + "ied"
    return verb + "ed"


def present_participle(verb, double):
    """Return the ``-ing`` form of ``verb`` (``double``: ``stop*``)."""
    if double:
        return verb + verb[-1] + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


def verb_forms(entry):
    """Expand one verb entry of :data:`VERBS` into its five forms.

    Arguments
    ---------
    entry : str
        ``base``, ``base*`` or ``base[*]/past/participle``.

    Returns
    -------
    dict
        Forms keyed by ``BASE``, ``S``, ``PAST``, ``ING`` and ``PP``.

    Example
    -------
    >>> verb_forms("stop*")["PAST"], verb_forms("run*/ran/run")["ING"]
    ('stopped', 'running')
    """
    parts = entry.split("/")
    base = parts[0].rstrip("*")
    double = parts[0].endswith("*")
    past_form = parts[1] if len(parts) > 1 else past(base, double)
    participle = parts[2] if len(parts) > 2 else past_form
    return {
        "BASE": base,
        "S": third_person(base),
        "PAST": past_form,
        "ING": present_participle(base, double),
        "PP": participle,
    }


def noun_forms(entry):
    """Return ``(singular, plural)`` for one noun entry of :data:`NOUNS`."""
    singular, _, irregular = entry.partition("/")
    return singular, irregular or plural(singular)


def _add(categories, name, words):
    """Append ``words`` to ``categories[name]`` keeping order, no repeats."""
    target = categories.setdefault(name, [])
    target.extend(w for w in words if w not in target)


def lexical_categories(words_per_category=WORDS_PER_CATEGORY):
    """Build every terminal category of the grammar.

    Arguments
    ---------
    words_per_category : int or None
        Entries kept from each word list (a verb or noun entry gives all its
        forms); ``None`` keeps every entry.

    Returns
    -------
    dict
        Category name -> tuple of words, lower case except proper nouns, the
        most frequent first (the grammar draws them with Zipf-like weights).

    Example
    -------
    >>> lexical_categories(3)["V_MOVE_PAST"]
    ('went', 'came', 'walked')
    >>> len(lexical_categories(None)["N_ANIMAL_SG"]) > 3
    True
    """

    def entries(text):
        return text.split()[:words_per_category]

    categories = {}
    for cls, text in NOUNS.items():
        forms = [noun_forms(entry) for entry in entries(text)]
        _add(categories, f"N_{cls}_SG", [sg for sg, _ in forms])
        _add(categories, f"N_{cls}_PL", [pl for _, pl in forms])
    for cls, text in VERBS.items():
        for entry in entries(text):
            for form, word in verb_forms(entry).items():
                _add(categories, f"V_{cls}_{form}", [word])
    _add(categories, "MASS_FOOD", entries(MASS_FOODS))
    _add(categories, "DRINK_NOUN", entries(DRINKS))
    for name, text in WORDS.items():
        words = entries(text)
        if name in PROPER_NOUNS:
            words = [word.capitalize() for word in words]
        _add(categories, name, words)
    for number in ("SG", "PL"):
        _add(categories, f"N_PERSON_{number}", categories[f"N_KIN_{number}"])
    return {name: tuple(words) for name, words in categories.items()}

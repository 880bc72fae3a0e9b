"""The rules of the sentence grammar, as text.

Rules are written one per line as ``LHS = w1 alternative | w2 alternative``
with integer weights; a line starting with ``|`` continues the rule above.
Upper-case symbols are non-terminals or lexical categories of
:mod:`lexicon`; lower-case tokens and punctuation are literal. A left-hand
side may contain placeholders: ``{F}`` (verb form), ``{C}`` (noun class) and
``{N}`` (number); such a rule is instantiated for every value of
:data:`PLACEHOLDERS`.

Example
-------
>>> RULES.splitlines()[1]
'S = 26 DECL . | 6 TIME , DECL . | 6 DECL , CONJ DECL . | 4 SUB DECL , DECL .'
>>> PLACEHOLDERS["N"]
('SG', 'PL')

Authors
 * efficient-asr contributors
"""

PLACEHOLDERS = {
    "F": ("BASE", "S", "PAST", "ING", "PP"),
    "C": ("PERSON", "ANIMAL", "THING", "FOOD", "DOC", "PLACE"),
    "N": ("SG", "PL"),
}

RULES = """
S = 26 DECL . | 6 TIME , DECL . | 6 DECL , CONJ DECL . | 4 SUB DECL , DECL .
  | 4 DECL SUB DECL . | 12 QUESTION ? | 6 SPEECH . | 5 QUOTE . | 4 IMPER .
  | 6 EXIST . | 4 NUMERIC . | 3 COMPARE .
DECL = 34 SUBJ_SG PRED_SG | 22 SUBJ_PL PRED_PL | 6 i PRED_I
  | 6 SUBJ_SG PRED_SG PP_TIME | 4 SUBJ_PL PRED_PL PP_TIME | 1 i'm ADJ_CHAR
  | 1 it's ADJ_THING
PRED_SG = 36 VP_PAST | 8 VP_S | 5 was VP_ING | 2 is VP_ING | 4 has VP_PP
  | 4 had VP_PP | 3 did not VP_BASE | 3 didn't VP_BASE | 2 does not VP_BASE
  | 2 doesn't VP_BASE | 7 MODAL VP_BASE | 2 can't VP_BASE | 3 ADV_FREQ VP_PAST
  | 5 V_CTRL_PAST to VP_BASE | 2 V_CTRL_S to VP_BASE | 5 was ADJ_CHAR
  | 2 was very ADJ_CHAR | 2 wasn't ADJ_CHAR | 3 was PP_LOC | 2 seemed ADJ_CHAR
  | 2 felt ADJ_CHAR | 2 is ADJ_CHAR
PRED_PL = 36 VP_PAST | 8 VP_BASE | 5 were VP_ING | 2 are VP_ING
  | 4 have VP_PP | 4 had VP_PP | 3 did not VP_BASE | 3 didn't VP_BASE
  | 2 do not VP_BASE | 2 don't VP_BASE | 7 MODAL VP_BASE | 2 won't VP_BASE
  | 3 ADV_FREQ VP_PAST | 5 V_CTRL_PAST to VP_BASE | 2 V_CTRL_BASE to VP_BASE
  | 5 were ADJ_CHAR | 2 were very ADJ_CHAR | 2 weren't ADJ_CHAR
  | 3 were PP_LOC | 2 seemed ADJ_CHAR | 2 felt ADJ_CHAR | 2 are ADJ_CHAR
PRED_I = 30 VP_PAST | 10 VP_BASE | 5 was VP_ING | 4 am VP_ING | 5 have VP_PP
  | 4 did not VP_BASE | 4 don't VP_BASE | 6 MODAL VP_BASE | 2 couldn't VP_BASE
  | 5 V_CTRL_PAST to VP_BASE | 4 V_CTRL_BASE to VP_BASE | 3 am ADJ_CHAR
  | 3 was ADJ_CHAR
MODAL = 6 could | 6 would | 4 should | 3 might | 3 must | 5 will | 4 can
  | 1 may
VP_{F} = 14 V_INTR_{F} | 6 V_INTR_{F} ADV | 6 V_INTR_{F} PP_LOC
  | 3 V_INTR_{F} PP_TIME | 16 V_TR_{F} OBJ | 4 V_TR_{F} OBJ PP_LOC
  | 3 V_TR_{F} OBJ ADV | 10 V_MOVE_{F} PP_DIR | 3 V_MOVE_{F} PP_DIR PP_BY
  | 2 V_MOVE_{F} ADV | 7 V_EAT_{F} OBJ_FOOD | 3 V_DRINK_{F} DRINK
  | 5 V_WRITE_{F} OBJ_DOC | 6 V_SOCIAL_{F} OBJ_PERSON | 5 V_PLACE_{F} OBJ_PLACE
  | 3 V_GIVE_{F} OBJ_PERSON OBJ_THING | 2 V_GIVE_{F} OBJ_THING to OBJ_PERSON
  | 4 V_SAY_{F} that DECL | 3 V_TELL_{F} OBJ_PERSON that DECL
SUBJ_SG = 30 NP_PERSON_SG | 10 NP_ANIMAL_SG | 14 NAME | 6 TITLE SURNAME
  | 7 he | 7 she | 4 POSSR N_KIN_SG
SUBJ_PL = 30 NP_PERSON_PL | 10 NP_ANIMAL_PL | 8 they | 6 we | 3 you
  | 5 NAME and NAME
OBJ = 30 OBJ_THING | 10 NP_ANIMAL_SG | 6 NP_ANIMAL_PL | 14 OBJ_PERSON
OBJ_THING = 50 NP_THING_SG | 30 NP_THING_PL | 5 it | 5 them
OBJ_PERSON = 30 NP_PERSON_SG | 12 NP_PERSON_PL | 15 NAME | 6 TITLE SURNAME
  | 5 him | 5 her | 4 them | 3 me | 3 us
OBJ_FOOD = 10 NP_FOOD_SG | 10 NP_FOOD_PL | 4 some MASS_FOOD | 3 the MASS_FOOD
  | 2 a piece of MASS_FOOD
OBJ_DOC = 10 NP_DOC_SG | 5 NP_DOC_PL
OBJ_PLACE = 10 NP_PLACE_SG | 3 NP_PLACE_PL
DRINK = 4 some DRINK_NOUN | 3 a cup of DRINK_NOUN | 3 a glass of DRINK_NOUN
  | 2 the DRINK_NOUN
NP_{C}_{N} = 66 SNP_{C}_{N} | 10 SNP_{C}_{N} PP_LOC | 7 SNP_{C}_{N} REL_{C}_{N}
  | 5 POSSR NOM_{C}_{N}
SNP_{C}_{N} = 1 DET_{N} NOM_{C}_{N}
NOM_{C}_{N} = 60 N_{C}_{N} | 28 MOD_{C} N_{C}_{N} | 6 SIZE MOD_{C} N_{C}_{N}
MOD_PERSON = 5 ADJ_CHAR | 2 SIZE | 2 AGE
MOD_ANIMAL = 3 ADJ_CHAR | 3 SIZE | 2 AGE | 2 COLOR
MOD_THING = 4 ADJ_THING | 3 COLOR | 2 SIZE | 2 AGE
MOD_FOOD = 4 ADJ_FOOD | 2 SIZE | 1 COLOR
MOD_DOC = 3 ADJ_DOC | 2 AGE
MOD_PLACE = 3 ADJ_PLACE | 2 SIZE | 2 AGE
DET_SG = 46 the | 20 a | 4 this | 4 that | 2 every | 3 his | 3 her | 2 my
  | 2 our | 2 their | 1 your | 1 one | 1 another | 1 each
DET_PL = 40 the | 6 these | 5 those | 8 some | 4 many | 3 several | 2 a few
  | 3 his | 3 her | 2 my | 2 our | 2 their | 12 NUM_PL | 2 all the | 1 both
POSSR = 6 NAME 's | 4 the N_PERSON_SG 's | 2 my N_KIN_SG 's | 2 TITLE SURNAME 's
REL_PERSON_SG = 8 who VP_PAST | 2 who was ADJ_CHAR | 2 who lived PP_LOC
  | 3 whom SUBJ_SG V_SOCIAL_PAST | 2 who had VP_PP
REL_PERSON_PL = 8 who VP_PAST | 2 who were ADJ_CHAR | 2 who lived PP_LOC
  | 3 whom SUBJ_PL V_SOCIAL_PAST | 2 who had VP_PP
REL_ANIMAL_SG = 4 that VP_PAST | 2 that was ADJ_CHAR | 3 that SUBJ_SG V_TR_PAST
REL_ANIMAL_PL = 4 that VP_PAST | 2 that were ADJ_CHAR | 3 that SUBJ_PL V_TR_PAST
REL_THING_SG = 6 that SUBJ_SG V_TR_PAST | 3 that SUBJ_PL V_TR_PAST
  | 3 that was PP_LOC | 2 that was ADJ_THING | 1 which SUBJ_SG had V_TR_PP
REL_THING_PL = 6 that SUBJ_SG V_TR_PAST | 3 that SUBJ_PL V_TR_PAST
  | 3 that were PP_LOC | 2 that were ADJ_THING | 1 which SUBJ_PL had V_TR_PP
REL_FOOD_{N} = 5 that SUBJ_SG V_EAT_PAST | 2 that SUBJ_PL V_EAT_PAST
  | 2 from SNP_PLACE_SG
REL_DOC_{N} = 5 that SUBJ_SG V_WRITE_PAST | 2 that SUBJ_PL V_WRITE_PAST
  | 2 about SNP_THING_SG | 2 from NAME
REL_PLACE_{N} = 5 where SUBJ_SG VP_PAST | 3 where SUBJ_PL VP_PAST
  | 3 that SUBJ_SG V_PLACE_PAST
PP_LOC = 10 PREP_AT_PLACE SNP_PLACE_SG | 2 PREP_AT_PLACE SNP_PLACE_PL
  | 5 PREP_AT_THING SNP_THING_SG | 1 PREP_AT_PLACE NAME 's N_PLACE_SG
  | 2 next to SNP_THING_SG | 2 in front of SNP_PLACE_SG
PP_DIR = 14 PREP_TO_PLACE SNP_PLACE_SG | 3 PREP_TO_PLACE SNP_PLACE_PL
  | 4 home | 2 out of SNP_PLACE_SG | 2 back to SNP_PLACE_SG
  | 1 up SNP_PLACE_SG | 1 down SNP_PLACE_SG
PP_BY = 6 by VEHICLE | 2 on foot | 1 on horseback | 2 with SNP_PERSON_SG
  | 2 with NAME
PP_TIME = 6 in the DAYPART | 3 at night | 4 on DAY | 3 in MONTH
  | 3 in the SEASON | 2 during the SEASON | 3 after MEAL | 3 before MEAL
  | 3 at CLOCK o'clock | 1 at noon | 1 at midnight | 2 last DAY
  | 2 last SEASON | 2 every DAY | 2 every DAYPART | 2 NUM_PL DURATION later
  | 1 a week later | 2 in the year YEAR | 1 the next DAYPART
  | 2 on DAY DAYPART | 2 on the ORDINAL of MONTH
TIME = 10 PP_TIME | 3 yesterday | 2 long ago | 2 that DAYPART
  | 1 early in the morning | 1 late at night | 2 the next day
  | 1 once upon a time | 1 at last | 2 one DAYPART | 1 after a while
  | 1 in those days | 1 at first | 1 later that day
QUESTION = 6 did SUBJ_SG VP_BASE | 4 did SUBJ_PL VP_BASE
  | 4 where did SUBJ_SG V_MOVE_BASE | 3 why did SUBJ_SG VP_BASE
  | 3 when did SUBJ_PL VP_BASE | 5 who VP_PAST | 3 what did SUBJ_SG V_TR_BASE
  | 2 what did SUBJ_PL V_EAT_BASE | 3 how many N_THING_PL did SUBJ_SG V_TR_BASE
  | 3 was SUBJ_SG ADJ_CHAR | 2 were SUBJ_PL ADJ_CHAR
  | 3 is SNP_THING_SG ADJ_THING | 3 can SUBJ_SG VP_BASE | 2 could you VP_BASE
  | 3 will SUBJ_PL VP_BASE | 2 does SUBJ_SG VP_BASE | 2 do SUBJ_PL VP_BASE
  | 2 have you ever VP_PP | 2 where is NP_THING_SG | 2 where are NP_PERSON_PL
  | 2 which N_THING_SG did SUBJ_SG V_TR_BASE | 1 whose N_THING_SG is this
  | 2 how old is NAME | 2 didn't SUBJ_SG VP_BASE | 1 why don't we VP_BASE
  | 1 is it true that DECL
SPEECH = 8 SUBJ_SG V_SAY_PAST that DECL | 3 SUBJ_PL V_SAY_PAST that DECL
  | 4 i V_SAY_BASE that DECL | 3 SUBJ_SG V_TELL_PAST OBJ_PERSON that DECL
  | 2 SUBJ_SG asked OBJ_PERSON whether DECL | 2 SUBJ_SG wondered why DECL
  | 2 nobody knew why DECL | 2 i don't know where SUBJ_SG V_MOVE_PAST
  | 1 everyone said that DECL
QUOTE = 5 IMPER , SAY_QUOTE SNP_PERSON_SG | 4 DECL , NAME SAY_QUOTE
  | 3 DECL , SAY_QUOTE the N_PERSON_SG | 3 QUESTION ? asked NAME
  | 2 yes , SAY_QUOTE NAME | 2 no , SAY_QUOTE SNP_PERSON_SG
IMPER = 10 VP_BASE | 3 please VP_BASE | 2 do not VP_BASE | 2 don't VP_BASE
  | 2 let us VP_BASE | 2 NAME , VP_BASE | 1 never VP_BASE | 1 always VP_BASE
  | 2 VP_BASE , NAME
EXIST = 5 there was a NOM_THING_SG PP_LOC | 4 there was a NOM_ANIMAL_SG PP_LOC
  | 3 there was a NOM_PERSON_SG PP_LOC | 3 there were SNP_PERSON_PL PP_LOC
  | 3 there were NUM_PL N_ANIMAL_PL PP_LOC | 2 there is a NOM_THING_SG PP_LOC
  | 2 there are SNP_THING_PL PP_LOC | 2 there was once a NOM_PERSON_SG who VP_PAST
  | 1 there was nothing PP_LOC | 1 there were no N_FOOD_PL PP_LOC
NUMERIC = 4 SUBJ_SG was NUM_PL years old | 3 the NOM_THING_SG cost NUM_PL MONEY
  | 3 SUBJ_SG V_TR_PAST NUM_PL N_THING_PL | 3 SUBJ_SG V_EAT_PAST NUM_PL N_FOOD_PL
  | 2 it was CLOCK o'clock | 2 it happened in the year YEAR
  | 2 SUBJ_SG waited for NUM_PL DURATION | 2 the journey took NUM_PL DURATION
  | 2 SNP_PLACE_SG was NUM_PL miles away | 2 SUBJ_SG counted NUM_PL N_ANIMAL_PL
  | 1 SUBJ_SG was born on the ORDINAL of MONTH
COMPARE = 4 SUBJ_SG was ADJ_CMP than CMP_TARGET
  | 2 SUBJ_PL were ADJ_CMP than CMP_TARGET
  | 3 SUBJ_SG was the ADJ_SUP N_PERSON_SG PP_LOC
  | 2 SNP_ANIMAL_SG was ADJ_CMP than SNP_ANIMAL_SG
  | 2 nobody was ADJ_CMP than NAME | 2 SUBJ_SG was as ADJ_CHAR as SNP_PERSON_SG
CMP_TARGET = 4 NAME | 4 SNP_PERSON_SG | 2 POSSR N_KIN_SG | 1 ever | 1 before
NUM_PL = 8 DIGIT2 | 3 TEEN | 2 TENS | 3 TENS DIGIT1 | 1 DIGIT1 hundred
  | 1 a hundred | 1 DIGIT1 hundred and NUM99 | 1 a thousand
NUM99 = 3 DIGIT1 | 2 TEEN | 2 TENS | 4 TENS DIGIT1
YEAR = 4 CENTURY TENS DIGIT1 | 2 CENTURY TENS | 1 CENTURY hundred
  | 1 CENTURY TEEN
CLOCK = 9 DIGIT1 | 1 ten | 1 eleven | 1 twelve
"""

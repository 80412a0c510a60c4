"""Phrase banks of the cross-style evaluation (see ``styles``): twelve webshop contact reasons
in Dutch and English, each written three ways that share as few words as a customer would.

- ``short``: templated one-liners, the way a contact form or a first labelling round reads.
- ``long``: free paraphrases, the core of a longer message with a story around it.
- ``chat``: informal chat cores (the chat transform adds abbreviations and emoji).

``{item}`` is filled with a product or parcel word, ``{days}`` with a number of days.
Written for this evaluation (no corpus copied); shared under the project's licence.
"""

from __future__ import annotations

__all__ = ["BANKS", "CLOSINGS", "CONTEXTS", "ITEMS", "OPENINGS"]

Bank = dict[str, dict[str, list[str]]]  # style -> lang -> phrases

ITEMS = {
    "nl": ["pakket", "bestelling", "jas", "schoenen", "koptelefoon", "koffiezetapparaat", "lamp"],
    "en": ["parcel", "order", "jacket", "shoes", "headphones", "coffee machine", "lamp"],
}

OPENINGS = {
    "nl": ["Goedemiddag,", "Hallo,", "Beste klantenservice,", "Hoi,", "Goedemorgen,", ""],
    "en": ["Hello,", "Hi there,", "Dear customer service,", "Good morning,", "Hi,", ""],
}

CONTEXTS = {
    "nl": [
        "Op {date} heb ik bij jullie een {item} besteld (ordernummer {order}).",
        "Ik ben al jaren klant en bestel regelmatig bij jullie.",
        "Vorige week heb ik online een {item} gekocht als cadeau voor mijn zus.",
        "Het gaat om bestelling {order}, betaald met iDEAL.",
        "Ik heb eerder al een keer gebeld maar de verbinding werd verbroken.",
        "Mijn vriend heeft namens mij besteld op mijn naam.",
    ],
    "en": [
        "On {date} I ordered a {item} from your shop (order number {order}).",
        "I have been a customer for years and order from you quite often.",
        "Last week I bought a {item} online as a present for my sister.",
        "This is about order {order}, which I paid with my credit card.",
        "I already called once before but the line got disconnected.",
        "My partner placed the order for me, in my name.",
    ],
}

CLOSINGS = {
    "nl": [
        "Alvast bedankt voor jullie hulp.",
        "Graag hoor ik snel van jullie.",
        "Met vriendelijke groet, {name}",
        "Kunnen jullie hier naar kijken?",
        "Groetjes, {name}",
        "",
    ],
    "en": [
        "Thanks in advance for your help.",
        "I look forward to hearing from you soon.",
        "Kind regards, {name}",
        "Could you please look into this?",
        "Best, {name}",
        "",
    ],
}

BANKS: dict[str, Bank] = {
    "waar_is_mijn_pakket": {
        "short": {
            "nl": [
                "waar blijft mijn {item}",
                "mijn {item} is nog niet bezorgd",
                "wanneer wordt mijn {item} geleverd",
                "{item} nog steeds niet ontvangen",
                "track en trace staat al {days} dagen stil",
                "levertijd van mijn {item} is verstreken",
            ],
            "en": [
                "where is my {item}",
                "my {item} has not been delivered yet",
                "when will my {item} arrive",
                "still have not received my {item}",
                "tracking has not moved for {days} days",
                "the delivery date for my {item} has passed",
            ],
        },
        "long": {
            "nl": [
                "De verwachte bezorgdatum is inmiddels {days} dagen geleden en er is nog steeds niets bij mij aangekomen.",
                "Volgens de volgcode ligt de zending al sinds maandag in het sorteercentrum en er gebeurt niets meer.",
                "Ik zit nu al ruim een week te wachten en de bezorger is nog altijd niet langs geweest.",
                "Kunnen jullie nagaan waar de zending zich nu bevindt? Ik had hem vóór het weekend nodig.",
                "Het statusbericht zegt al dagen 'onderweg' maar aan de deur is nog niemand geweest.",
            ],
            "en": [
                "The expected delivery date was {days} days ago and nothing has turned up at my door so far.",
                "According to the tracking code the shipment has been sitting at the sorting hub since Monday.",
                "I have been waiting for over a week now and the courier still has not shown up.",
                "Could you find out where the shipment currently is? I needed it before the weekend.",
                "The status has said 'in transit' for days but nobody has come to the door.",
            ],
        },
        "chat": {
            "nl": [
                "hoe lang duurt het nog voor mijn spullen er zijn",
                "nog steeds niks binnen",
                "waar blijft die zending nou",
                "wacht al {days} dagen op mn {item}",
            ],
            "en": [
                "how much longer till my stuff gets here",
                "still nothing arrived",
                "where is that shipment seriously",
                "been waiting {days} days on my {item}",
            ],
        },
    },
    "pakket_beschadigd": {
        "short": {
            "nl": [
                "mijn {item} is beschadigd aangekomen",
                "{item} kapot ontvangen",
                "de doos was kapot",
                "product is gebroken bij levering",
                "er zit een deuk in mijn {item}",
            ],
            "en": [
                "my {item} arrived damaged",
                "received my {item} broken",
                "the box was crushed",
                "the product was broken on delivery",
                "there is a dent in my {item}",
            ],
        },
        "long": {
            "nl": [
                "Toen ik de verpakking openmaakte zag ik dat het glas in stukken lag en er scherven in de doos zaten.",
                "De buitenkant van de doos was helemaal ingedeukt en nat, en het apparaat doet het niet meer.",
                "Er zit een flinke barst in de behuizing, dat moet onderweg gebeurd zijn.",
                "Bij het uitpakken bleek de poot afgebroken en zit er een grote kras over de voorkant.",
                "Het lijkt erop dat er iets zwaars op heeft gestaan, alles is verbogen.",
            ],
            "en": [
                "When I opened the packaging the glass was in pieces and there were shards all over the box.",
                "The outside of the box was completely dented and wet, and the device no longer works.",
                "There is a big crack in the casing, that must have happened in transit.",
                "While unpacking I found that the leg had snapped off and there is a long scratch across the front.",
                "It looks like something heavy was stacked on top of it, everything is bent.",
            ],
        },
        "chat": {
            "nl": [
                "ding is stuk binnengekomen",
                "alles kapot in de doos",
                "mn {item} is aan gort",
                "barst erin bij het uitpakken",
            ],
            "en": [
                "thing came in smashed",
                "everything wrecked inside the box",
                "my {item} is totally busted",
                "cracked when i unboxed it",
            ],
        },
    },
    "bezorgd_niet_ontvangen": {
        "short": {
            "nl": [
                "staat op bezorgd maar niet ontvangen",
                "{item} als bezorgd gemeld maar niets gekregen",
                "niet bij de buren afgegeven",
                "bezorgd volgens track en trace maar ik heb niets",
                "mijn {item} is nooit aangekomen terwijl het bezorgd zou zijn",
            ],
            "en": [
                "says delivered but not received",
                "{item} marked as delivered but I got nothing",
                "not left with the neighbours",
                "tracking says delivered but I do not have it",
                "my {item} never arrived although it shows as delivered",
            ],
        },
        "long": {
            "nl": [
                "In de app staat dat de zending gisteren is afgeleverd, maar ik was de hele dag thuis en er is niemand aan de deur geweest.",
                "Volgens jullie bericht is het bij een buurman afgegeven, maar bij geen van de buren ligt iets.",
                "Er is een handtekening gezet die niet van mij is, en op mijn adres is niets terechtgekomen.",
                "De status springt op 'afgeleverd' maar in de brievenbus en voor de deur ligt helemaal niets.",
                "Op de foto van de bezorger staat een deur die niet van ons huis is.",
            ],
            "en": [
                "The app says the shipment was handed over yesterday, but I was home all day and nobody rang the bell.",
                "Your message says it was left with a neighbour, but none of my neighbours have anything.",
                "Someone signed for it and it was not me, nothing ended up at my address.",
                "The status jumped to 'delivered' but there is nothing in the mailbox or at the door.",
                "The courier's photo shows a front door that is not our house.",
            ],
        },
        "chat": {
            "nl": [
                "zegt afgeleverd maar hier ligt niks",
                "iemand anders heeft voor mn {item} getekend denk ik",
                "foto van bezorger is niet mijn deur",
                "app zegt geleverd maar nee hoor",
            ],
            "en": [
                "says dropped off but nothing here",
                "someone else signed for my {item} i think",
                "drivers photo isnt even my door",
                "app says delivered but nope",
            ],
        },
    },
    "retour_aanmelden": {
        "short": {
            "nl": [
                "ik wil mijn {item} retourneren",
                "hoe kan ik iets terugsturen",
                "retourlabel aanvragen",
                "{item} past niet, ik wil het ruilen",
                "hoe meld ik een retour aan",
            ],
            "en": [
                "i want to return my {item}",
                "how can i send something back",
                "request a return label",
                "the {item} does not fit, i want to exchange it",
                "how do i register a return",
            ],
        },
        "long": {
            "nl": [
                "De maat valt helaas veel te klein uit, dus ik zou het graag binnen de bedenktijd naar jullie opsturen.",
                "Het artikel bevalt me toch niet en ik wil gebruikmaken van mijn recht om het binnen dertig dagen in te leveren.",
                "Kan ik het bij een servicepunt afgeven, en hoe kom ik aan een verzendlabel daarvoor?",
                "De kleur is anders dan op de foto, ik wil het terug laten gaan.",
                "Ik heb per ongeluk twee dezelfde gekregen en wil er één terugbrengen.",
            ],
            "en": [
                "Unfortunately the size runs far too small, so I would like to ship it back to you within the cooling-off period.",
                "I do not like the item after all and want to use my right to hand it in within thirty days.",
                "Can I drop it off at a service point, and how do I get a shipping label for that?",
                "The colour is different from the picture, I would like to send it back.",
                "I accidentally got two of the same and want to bring one back.",
            ],
        },
        "chat": {
            "nl": [
                "past niet, kan het terug?",
                "wil dit inleveren hoe werkt dat",
                "label nodig om terug te sturen",
                "vind het niks, terugsturen kan toch?",
            ],
            "en": [
                "doesnt fit can it go back?",
                "wanna hand this in how does it work",
                "need a label to ship it back",
                "dont like it, can i send it back?",
            ],
        },
    },
    "terugbetaling_status": {
        "short": {
            "nl": [
                "wanneer krijg ik mijn geld terug",
                "status van mijn terugbetaling",
                "geld nog niet teruggestort",
                "nog steeds geen terugbetaling ontvangen",
                "retour verwerkt maar geen geld terug",
            ],
            "en": [
                "when do i get my refund",
                "refund status",
                "money not returned yet",
                "still no refund received",
                "return processed but no money back",
            ],
        },
        "long": {
            "nl": [
                "Het pakket is volgens de volgcode {days} dagen geleden bij jullie magazijn aangekomen, maar het bedrag staat nog altijd niet op mijn rekening.",
                "Jullie mail zei dat het binnen vijf werkdagen terug zou komen, inmiddels zijn we ruim twee weken verder.",
                "Ik zie nergens een creditering op mijn bankafschrift terwijl de annulering al bevestigd was.",
                "Hoe lang duurt het normaal voordat het aankoopbedrag wordt teruggeboekt?",
                "Ik heb het artikel keurig teruggestuurd en wacht nog steeds op mijn euro's.",
            ],
            "en": [
                "According to the tracking code the parcel reached your warehouse {days} days ago, but the amount is still not back in my account.",
                "Your e-mail said it would be paid back within five working days, it has now been over two weeks.",
                "I cannot find any credit on my bank statement although the cancellation was confirmed.",
                "How long does it usually take before the purchase amount is credited back?",
                "I sent the item back properly and I am still waiting for my money.",
            ],
        },
        "chat": {
            "nl": [
                "waar blijft mn geld",
                "nog steeds niks teruggestort??",
                "ik wil gewoon mn centen terug",
                "al {days} dagen wachten op mn geld",
            ],
            "en": [
                "where is my money",
                "still nothing paid back??",
                "just want my cash back",
                "{days} days waiting on my money",
            ],
        },
    },
    "factuur_niet_ontvangen": {
        "short": {
            "nl": [
                "factuur niet ontvangen",
                "ik heb geen factuur gekregen",
                "graag de factuur toesturen",
                "kopie van de factuur nodig",
                "waar vind ik mijn factuur",
            ],
            "en": [
                "invoice not received",
                "i did not get an invoice",
                "please send me the invoice",
                "i need a copy of the invoice",
                "where can i find my invoice",
            ],
        },
        "long": {
            "nl": [
                "Voor mijn administratie heb ik een rekening op naam van mijn bedrijf nodig, maar die zat niet bij de zending en ook niet in mijn mail.",
                "Mijn werkgever vergoedt de aankoop alleen als ik een officieel bewijs van betaling kan inleveren.",
                "In mijn account staat bij deze bestelling geen document om te downloaden.",
                "Kunnen jullie het aankoopbewijs nogmaals mailen? Ik heb het nodig voor de garantie.",
                "De boekhouder vraagt om de nota van deze aankoop en ik kan hem nergens terugvinden.",
            ],
            "en": [
                "For my bookkeeping I need a bill in my company's name, but it was not in the parcel or in my mail.",
                "My employer only reimburses the purchase if I can hand in an official proof of payment.",
                "My account shows no document to download for this order.",
                "Could you e-mail the receipt once more? I need it for the warranty.",
                "The accountant is asking for the bill of this purchase and I cannot find it anywhere.",
            ],
        },
        "chat": {
            "nl": [
                "bonnetje kwijt kan je die sturen",
                "heb de rekening nodig voor de baas",
                "nergens een factuur te zien",
                "stuur ff het betaalbewijs",
            ],
            "en": [
                "lost the receipt can u send it",
                "need the bill for my boss",
                "no invoice anywhere",
                "send the proof of payment pls",
            ],
        },
    },
    "factuur_onjuist": {
        "short": {
            "nl": [
                "factuur klopt niet",
                "verkeerd bedrag op de factuur",
                "btw-nummer ontbreekt op de factuur",
                "dubbel afgeschreven",
                "fout adres op de factuur",
            ],
            "en": [
                "the invoice is wrong",
                "wrong amount on the invoice",
                "vat number missing on the invoice",
                "i was charged twice",
                "wrong address on the invoice",
            ],
        },
        "long": {
            "nl": [
                "Er staat een hoger totaal op de rekening dan ik bij het afrekenen heb gezien, de korting is niet verwerkt.",
                "Mijn bank laat twee keer dezelfde afschrijving zien voor één bestelling.",
                "De bedrijfsnaam is verkeerd gespeld en het btw-nummer van ons bedrijf ontbreekt, zo kan ik hem niet boeken.",
                "Jullie hebben verzendkosten berekend terwijl gratis verzending beloofd was.",
                "Het bedrag dat is afgeschreven is hoger dan de prijs die op de website stond.",
            ],
            "en": [
                "The bill shows a higher total than I saw at checkout, the discount was not applied.",
                "My bank shows the same debit twice for a single order.",
                "The company name is misspelled and our VAT number is missing, so I cannot book it.",
                "You charged shipping costs although free shipping was promised.",
                "The amount taken from my account is higher than the price on the website.",
            ],
        },
        "chat": {
            "nl": [
                "jullie hebben 2x geld afgeschreven",
                "korting zit er niet in op de rekening",
                "bedrag klopt echt niet",
                "verzendkosten betaald terwijl het gratis was",
            ],
            "en": [
                "u took money out twice",
                "discount isnt on the bill",
                "amount is just wrong",
                "paid shipping but it was supposed to be free",
            ],
        },
    },
    "betaling_mislukt": {
        "short": {
            "nl": [
                "betaling mislukt",
                "ik kan niet betalen",
                "afgeschreven maar geen bestelling",
                "foutmelding bij het betalen",
                "ideal werkt niet",
            ],
            "en": [
                "payment failed",
                "i cannot pay",
                "charged but no order",
                "error message when paying",
                "card payment does not work",
            ],
        },
        "long": {
            "nl": [
                "Bij het afrekenen krijg ik steeds een rood scherm met 'transactie geweigerd' terwijl er genoeg saldo op mijn rekening staat.",
                "Ik word na het kiezen van mijn bank teruggestuurd naar de winkelwagen en de order komt niet door.",
                "Het geld is van mijn rekening gegaan maar ik heb geen bevestiging en in mijn account staat niets.",
                "Mijn creditcard wordt telkens afgewezen in de kassa, andere winkels werken wel.",
                "De pagina blijft hangen na het invullen van mijn kaartgegevens.",
            ],
            "en": [
                "At checkout I keep getting a red screen saying 'transaction declined' although there is enough money in my account.",
                "After choosing my bank I am sent back to the basket and the order does not go through.",
                "The money left my account but I have no confirmation and nothing shows in my account.",
                "My credit card keeps being rejected at the till, other shops work fine.",
                "The page freezes after I enter my card details.",
            ],
        },
        "chat": {
            "nl": [
                "kassa doet raar, kan niet afrekenen",
                "kaart geweigerd maar heb gewoon geld",
                "geld weg maar geen order??",
                "scherm blijft hangen bij afrekenen",
            ],
            "en": [
                "checkout is acting weird cant finish",
                "card declined but i have money",
                "money gone but no order??",
                "screen stuck at checkout",
            ],
        },
    },
    "bestelling_wijzigen": {
        "short": {
            "nl": [
                "ik wil mijn bestelling wijzigen",
                "bezorgadres aanpassen",
                "ander afleveradres voor mijn {item}",
                "artikel toevoegen aan mijn bestelling",
                "andere maat bestellen in dezelfde order",
            ],
            "en": [
                "i want to change my order",
                "change the delivery address",
                "different delivery address for my {item}",
                "add an item to my order",
                "switch to another size in the same order",
            ],
        },
        "long": {
            "nl": [
                "Ik ben net verhuisd en zag te laat dat het oude adres nog in mijn profiel stond, kan de zending naar mijn nieuwe woning?",
                "Is het nog mogelijk om er een tweede exemplaar bij te doen voordat het verstuurd wordt?",
                "Ik heb per ongeluk maat 38 gekozen in plaats van 40, kunnen jullie dat nog omzetten?",
                "Graag wil ik de kleur veranderen van zwart naar blauw, het is nog niet verzonden.",
                "Kan het pakket naar mijn werk in plaats van naar huis?",
            ],
            "en": [
                "I just moved and noticed too late that my old address was still in my profile, can the shipment go to my new home?",
                "Is it still possible to put a second one in before it ships?",
                "I picked size 38 by mistake instead of 40, could you still switch that?",
                "I would like to swap the colour from black to blue, it has not shipped yet.",
                "Can the parcel go to my office instead of my home?",
            ],
        },
        "chat": {
            "nl": [
                "kan ik nog iets bijdoen",
                "verkeerd adres ingevuld oeps",
                "toch liever blauw, kan dat nog",
                "kan t naar mn werk ipv thuis",
            ],
            "en": [
                "can i still add something",
                "put in the wrong address oops",
                "rather have blue, still possible?",
                "can it go to my work instead of home",
            ],
        },
    },
    "bestelling_annuleren": {
        "short": {
            "nl": [
                "ik wil mijn bestelling annuleren",
                "per ongeluk besteld",
                "bestelling {order} annuleren",
                "kan ik mijn order nog annuleren",
                "{item} niet meer nodig, graag annuleren",
            ],
            "en": [
                "i want to cancel my order",
                "ordered by mistake",
                "cancel order {order}",
                "can i still cancel my order",
                "do not need the {item} anymore, please cancel",
            ],
        },
        "long": {
            "nl": [
                "Ik heb het artikel ondertussen in de winkel gekocht, dus ik wil de aankoop bij jullie graag intrekken voordat hij verstuurd wordt.",
                "Mijn zoontje heeft op de knop gedrukt terwijl ik niet keek; kunnen jullie de order stopzetten?",
                "De levertijd is veel te lang geworden, ik zie er liever van af.",
                "Ik heb me bedacht en wil de hele bestelling laten vervallen.",
                "Kunnen jullie de order tegenhouden? Ik heb hem dubbel geplaatst.",
            ],
            "en": [
                "I bought the item in a store in the meantime, so I would like to withdraw the purchase from you before it ships.",
                "My little son pressed the button while I was not looking; can you stop the order?",
                "The lead time has become far too long, I would rather not go ahead.",
                "I have changed my mind and want to drop the whole order.",
                "Can you hold the order? I placed it twice.",
            ],
        },
        "chat": {
            "nl": [
                "laat maar zitten, hoeft niet meer",
                "per ongeluk op kopen gedrukt",
                "stop die order aub",
                "toch maar niet, kan t terug gedraaid worden",
            ],
            "en": [
                "never mind, dont need it anymore",
                "hit buy by accident",
                "stop that order pls",
                "actually no, can it be undone",
            ],
        },
    },
    "productvraag": {
        "short": {
            "nl": [
                "vraag over een product",
                "welke maat moet ik nemen",
                "is de {item} op voorraad",
                "van welk materiaal is de {item}",
                "wat zijn de afmetingen van de {item}",
            ],
            "en": [
                "question about a product",
                "which size should i take",
                "is the {item} in stock",
                "what material is the {item} made of",
                "what are the dimensions of the {item}",
            ],
        },
        "long": {
            "nl": [
                "Voordat ik bestel wil ik graag weten of dit model ook geschikt is voor een inductiekookplaat.",
                "Ik twijfel tussen twee varianten: valt deze ruim of juist krap, ik heb meestal een M?",
                "Komt het artikel binnenkort weer binnen, en kan ik een melding krijgen als het leverbaar is?",
                "Is de stof wasbaar op veertig graden en krimpt het niet?",
                "Past dit op een bureau van tachtig centimeter breed?",
            ],
            "en": [
                "Before ordering I would like to know whether this model also works on an induction hob.",
                "I am torn between two variants: does this one run large or small, I usually wear an M?",
                "Will the item be back soon, and can I get a notification when it is available?",
                "Can the fabric be washed at forty degrees without shrinking?",
                "Will this fit on a desk that is eighty centimetres wide?",
            ],
        },
        "chat": {
            "nl": [
                "valt die groot of klein?",
                "komt ie nog terug in zwart",
                "kan die in de wasmachine",
                "werkt dit ook op inductie",
            ],
            "en": [
                "does it run big or small?",
                "will it come back in black",
                "can it go in the washer",
                "does this work on induction",
            ],
        },
    },
    "inloggen_account": {
        "short": {
            "nl": [
                "ik kan niet inloggen",
                "wachtwoord vergeten",
                "account geblokkeerd",
                "wachtwoord resetten lukt niet",
                "inloggen op mijn account werkt niet",
            ],
            "en": [
                "i cannot log in",
                "forgot my password",
                "account locked",
                "password reset does not work",
                "logging in to my account fails",
            ],
        },
        "long": {
            "nl": [
                "Elke keer als ik mijn gegevens invoer krijg ik de melding dat de combinatie onbekend is, terwijl ik zeker weet dat ze kloppen.",
                "De mail om een nieuw wachtwoord in te stellen komt nooit aan, ook niet in de spamfolder.",
                "Na drie pogingen is mijn profiel op slot gezet en nu kom ik er helemaal niet meer in.",
                "Ik heb een nieuw e-mailadres en kan daardoor niet meer bij mijn gegevens en bestellingen.",
                "De verificatiecode per sms komt niet binnen, dus ik blijf op het aanmeldscherm hangen.",
            ],
            "en": [
                "Every time I enter my details I get a message that the combination is unknown, although I am sure they are right.",
                "The e-mail to set a new password never arrives, not even in the spam folder.",
                "After three attempts my profile was locked and now I cannot get in at all.",
                "I have a new e-mail address and so I can no longer reach my details and orders.",
                "The verification code by text message never comes, so I am stuck on the sign-in screen.",
            ],
        },
        "chat": {
            "nl": [
                "kom er niet in",
                "code komt niet binnen",
                "profiel op slot??",
                "reset mail komt nooit",
            ],
            "en": [
                "cant get in",
                "code never comes",
                "profile locked??",
                "reset mail never shows up",
            ],
        },
    },
}

Oíanme, y esperaban; y callaban á mi consejo.
E invócame en el día de la angustia: te libraré, y tú me honrarás.
Y arrepintióse Jehová de haber hecho hombre en la tierra, y pesóle en su corazón.
Maldito el que se echare con su suegra. Y dirá todo el pueblo: Amén.
Por tanto yo aullaré sobre Moab, y sobre todo Moab haré clamor, y sobre los hombres de Kir-heres gemiré.
Bienaventurados tus hombres, y dichosos estos tus siervos, que están siempre delante de ti, y oyen tu sabiduría.
¿No ves lo que estos hacen en las ciudades de Judá y en las calles de Jerusalem?
Porque no el que se alaba á sí mismo, el tal es aprobado; mas aquel á quien Dios alaba.
Y puso el uno en Beth-el, y el otro puso en Dan.
He aquí yo Pablo os digo, que si os circuncidareis, Cristo no os aprovechará nada.
Y cualquiera de vosotros que quisiere hacerse el primero, será siervo de todos.
Y Jehová cortará de Israel cabeza y cola, ramo y caña en un mismo día.
Y Jonathán dijo á David: Ven, salgamos al campo. Y salieron ambos al campo.
Después de él, el jefe Johanán, y con él doscientos y ochenta mil;
Así es el que hace para sí tesoro, y no es rico en Dios.
Mas no ruego solamente por éstos, sino también por los que han de creer en mí por la palabra de ellos.
Y Joel fué el principal en Basán, el segundo Sephán, luego Janai, después Saphat.
Con los pies será hollada la corona de soberbia de los borrachos de Ephraim;
EN el año veintisiete de Jeroboam, rey de Israel, comenzó á reinar Azarías hijo de Amasías rey de Judá.
Bienaventurados los que tienen hambre y sed de justicia: porque ellos serán hartos.
A sus enemigos vestiré de confusión: mas sobre él florecerá su corona.
Y respondiendo uno de los doctores de la ley, le dice: Maestro, cuando dices esto, también nos afrentas á nosotros.
Mas el campo de aquesta ciudad y sus aldeas dieron á Caleb hijo de Jephone, por su posesión.
Marta le dice: Yo sé que resucitará en la resurrección en el día postrero.
Irán de fortaleza en fortaleza, verán á Dios en Sión.
Y los hijos de Ulla; Ara, y Haniel, y Resia.
De los cuales el mundo no era digno; perdidos por los desiertos, por los montes, por las cuevas y por las cavernas de la tierra.
Heme desnudado mi ropa; ¿cómo la tengo de vestir? He lavado mis pies; ¿cómo los tengo de ensuciar?
Y Sema engendró á Raham, padre de Jorcaam; y Recem engendró á Sammai.
Teniendo por mayores riquezas el vituperio de Cristo que los tesoros de los Egipcios; porque miraba á la remuneración.
